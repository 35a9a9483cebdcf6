#define BOOST_TEST_MODULE validators
#include "lethe_test.hpp"

#include <lethe/privacy/validators.hpp>

using namespace lethe::privacy;

BOOST_AUTO_TEST_SUITE(validators)

BOOST_AUTO_TEST_CASE(luhn) {
    BOOST_CHECK(luhn_valid("4111 1111 1111 1111"));
    BOOST_CHECK(luhn_valid("79927398713"));  // the classic worked example
    BOOST_CHECK(!luhn_valid("79927398710"));
    BOOST_CHECK_EQUAL(luhn_check_digit("7992739871"), 3);
    BOOST_CHECK(credit_card_prefix_valid("4111111111111111"));
    BOOST_CHECK(credit_card_prefix_valid("378282246310005"));
    BOOST_CHECK(!credit_card_prefix_valid("9111111111111111"));
    BOOST_CHECK(!credit_card_prefix_valid("37828224631000"));  // Amex is 15 digits
}

BOOST_AUTO_TEST_CASE(ssn_ranges) {
    BOOST_CHECK(us_ssn_valid("078051120"));
    BOOST_CHECK(!us_ssn_valid("000123456"));
    BOOST_CHECK(!us_ssn_valid("666123456"));
    BOOST_CHECK(!us_ssn_valid("900123456"));
    BOOST_CHECK(!us_ssn_valid("999123456"));
    BOOST_CHECK(us_ssn_valid("899123456"));
    BOOST_CHECK(!us_ssn_valid("123001234"));
    BOOST_CHECK(!us_ssn_valid("123450000"));
    BOOST_CHECK(!us_ssn_valid("12345678"));
}

BOOST_AUTO_TEST_CASE(iban) {
    // Examples from the SWIFT IBAN registry.
    BOOST_CHECK(iban_valid("DE89370400440532013000"));
    BOOST_CHECK(iban_valid("GB82WEST12345698765432"));
    BOOST_CHECK(iban_valid("FR1420041010050500013M02606"));
    BOOST_CHECK(iban_valid("NO9386011117947"));
    BOOST_CHECK(!iban_valid("DE89370400440532013001"));  // checksum
    BOOST_CHECK(!iban_valid("DE8937040044053201300"));   // length for DE
    BOOST_CHECK(!iban_valid("QQ89370400440532013000"));  // no such country
    BOOST_CHECK_EQUAL(iban_check_digits("DE", "370400440532013000"), 89);
    BOOST_CHECK_EQUAL(iban_check_digits("GB", "WEST12345698765432"), 82);
}

BOOST_AUTO_TEST_CASE(ip_addresses) {
    BOOST_CHECK(ipv4_valid("0.0.0.0"));
    BOOST_CHECK(ipv4_valid("255.255.255.255"));
    BOOST_CHECK(!ipv4_valid("256.1.1.1"));
    BOOST_CHECK(!ipv4_valid("1.2.3"));
    BOOST_CHECK(!ipv4_valid("01.2.3.4"));
    BOOST_CHECK(!ipv4_valid("1.2.3.4.5"));
    for (const char* ok : {"::", "::1", "1::", "2001:db8::1", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "fe80::1:2:3:4:5:6",
                           "::ffff:192.0.2.1", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7::"})
        BOOST_CHECK_MESSAGE(ipv6_valid(ok), ok);
    for (const char* bad : {":1", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::1", "g::1", "1:2:3:4:5:6:7:1.2.3.4",
                            "::1.2.3", "1:2:3:4:5:6:7:8::"})
        BOOST_CHECK_MESSAGE(!ipv6_valid(bad), bad);
}

BOOST_AUTO_TEST_CASE(calendar) {
    BOOST_CHECK(calendar_date_valid(2024, 2, 29));
    BOOST_CHECK(!calendar_date_valid(2023, 2, 29));
    BOOST_CHECK(!calendar_date_valid(1900, 2, 29));
    BOOST_CHECK(calendar_date_valid(2000, 2, 29));
    BOOST_CHECK(!calendar_date_valid(2024, 4, 31));
    BOOST_CHECK(!calendar_date_valid(2024, 13, 1));
}

BOOST_AUTO_TEST_SUITE_END()

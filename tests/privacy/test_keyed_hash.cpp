#define BOOST_TEST_MODULE keyed_hash
#include "lethe_test.hpp"

#include <lethe/privacy.hpp>
#include <lethe/privacy/keyed_hash.hpp>

using namespace lethe::privacy;

BOOST_AUTO_TEST_SUITE(keyed_hash)

BOOST_AUTO_TEST_CASE(rfc4231_vectors) {
    // RFC 4231 test case 2.
    BOOST_CHECK_EQUAL(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
                      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // RFC 4231 test case 1: key 0x0b x 20, "Hi There".
    BOOST_CHECK_EQUAL(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
                      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

BOOST_AUTO_TEST_CASE(hash_operator) {
    auto p = replacement_policy::uniform(operator_kind::keyed_hash);
    install_keyed_hash(p, "secret");
    anonymizer a(p);
    const std::string out = a.anonymize("mail ann@x.org and ann@x.org, not bob@x.org");
    const std::string h = "EMAIL_" + hmac_sha256_hex("secret", std::string("EMAIL") + '\0' + "ann@x.org").substr(0, 16);
    BOOST_CHECK_EQUAL(out.substr(5, h.size()), h);
    BOOST_CHECK_EQUAL(out.find(h, 6), 5 + h.size() + 5);  // the same value hashes the same
    auto other = replacement_policy::uniform(operator_kind::keyed_hash);
    install_keyed_hash(other, "another key");
    BOOST_CHECK_NE(anonymizer(other).anonymize("ann@x.org"), a.anonymize("ann@x.org"));  // the key matters
    BOOST_CHECK_THROW(install_keyed_hash(other, ""), lethe::error);
}

BOOST_AUTO_TEST_SUITE_END()

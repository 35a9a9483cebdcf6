#define BOOST_TEST_MODULE scanner
#include "lethe_test.hpp"

#include <lethe/privacy.hpp>

#include <cstdio>
#include <map>

#include "synthetic_corpus.hpp"

using namespace lethe::privacy;

namespace {

std::vector<std::pair<std::string, entity_type>> found(const std::string& text, const scanner& sc = scanner()) {
    std::vector<std::pair<std::string, entity_type>> out;
    for (const auto& s : sc.scan(text)) out.emplace_back(std::string(s.text(text)), s.type);
    return out;
}

bool has(const std::string& text, const std::string& value, entity_type t) {
    for (const auto& [v, ty] : found(text))
        if (v == value && ty == t) return true;
    return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(scanner_suite)

BOOST_AUTO_TEST_CASE(recognises_each_type_with_exact_spans) {
    BOOST_CHECK(has("write to jane.doe+x@mail.example.org today", "jane.doe+x@mail.example.org", entity_type::email));
    BOOST_CHECK(has("(mailto:bob@ex.com)", "bob@ex.com", entity_type::email));
    BOOST_CHECK(has("call +44 20 7946 0958.", "+44 20 7946 0958", entity_type::phone));
    BOOST_CHECK(has("call (415) 555-2671 now", "(415) 555-2671", entity_type::phone));
    BOOST_CHECK(has("or 1-800-555-2671", "1-800-555-2671", entity_type::phone));
    BOOST_CHECK(has("ext 207.504.9996x2283 now", "207.504.9996x2283", entity_type::phone));  // extension
    BOOST_CHECK(has("(325)672-9731x6986.", "(325)672-9731x6986", entity_type::phone));
    BOOST_CHECK(has("from abroad 001-459-329-2244 ok", "001-459-329-2244", entity_type::phone));  // 001 + NANP
    BOOST_CHECK(has("Tel. 01 23 45 67 89", "01 23 45 67 89", entity_type::phone));
    BOOST_CHECK(has("SSN 078-05-1120.", "078-05-1120", entity_type::us_ssn));
    BOOST_CHECK(has("card 4111-1111-1111-1111!", "4111-1111-1111-1111", entity_type::credit_card));
    BOOST_CHECK(has("amex 3782 822463 10005", "3782 822463 10005", entity_type::credit_card));
    BOOST_CHECK(has("IBAN GB82 WEST 1234 5698 7654 32 ok", "GB82 WEST 1234 5698 7654 32", entity_type::iban));
    BOOST_CHECK(has("ip 8.8.8.8, ok", "8.8.8.8", entity_type::ipv4));
    BOOST_CHECK(has("ip ::ffff:192.0.2.128 ok", "::ffff:192.0.2.128", entity_type::ipv6));
    BOOST_CHECK(has("ip 2001:db8::8a2e:370:7334.", "2001:db8::8a2e:370:7334", entity_type::ipv6));
    BOOST_CHECK(has("see https://example.com/a_(b)?q=1.", "https://example.com/a_(b)?q=1", entity_type::url));
    BOOST_CHECK(has("(www.example.org/x)", "www.example.org/x", entity_type::url));
    BOOST_CHECK(has("on March 5th, 2021 we", "March 5th, 2021", entity_type::date));
    BOOST_CHECK(has("on 29/02/2024 we", "29/02/2024", entity_type::date));
    BOOST_CHECK(has("Ticket [NAME-12] and", "[NAME-12]", entity_type::placeholder));
    BOOST_CHECK(has("I met Sarah Connor in New York.", "Sarah Connor", entity_type::person));
    BOOST_CHECK(has("I met Sarah Connor in New York.", "New York", entity_type::location));
    BOOST_CHECK(has("Dear Mr. Zanzibarov, hello", "Zanzibarov", entity_type::person));          // context only
    BOOST_CHECK(has("I live in Ulaanbaatar now", "Ulaanbaatar", entity_type::location));        // context only
    BOOST_CHECK(has("Hallo Jürgen Müller!", "Jürgen Müller", entity_type::person));             // UTF-8 gazetteer entries
}

// The forms for US, UK, FR, DE and PL, each with its exact span: the
// street with its number, then unit, city, state, ZIP or postcode when present.
BOOST_AUTO_TEST_CASE(street_addresses_in_five_countries) {
    const std::pair<const char*, const char*> cases[] = {
        {"I live at 42 Baker Street now.", "42 Baker Street"},
        {"221B Baker St. is famous", "221B Baker St."},
        {"at 350 5th Avenue, Apt 4B, New York, NY 10118 ok", "350 5th Avenue, Apt 4B, New York, NY 10118"},
        {"1600 Pennsylvania Ave NW, Washington, DC 20500", "1600 Pennsylvania Ave NW, Washington, DC 20500"},
        {"Send it to 742 Evergreen Terrace, Springfield, IL 62704 please", "742 Evergreen Terrace, Springfield, IL 62704"},
        {"She lives at 1 Elm St", "1 Elm St"},
        {"10 Downing Street, London SW1A 2AA", "10 Downing Street, London SW1A 2AA"},
        {"Flat 3, 27 Old Gloucester Road, London", "Flat 3, 27 Old Gloucester Road, London"},
        {"at Studio 8 Walton Station, Leeds LS1 4AP", "Studio 8 Walton Station, Leeds LS1 4AP"},
        {"to 947 Anderson Mills Apt. 824 now", "947 Anderson Mills Apt. 824"},
        {"to 141 Hodges Mountains, Kramerville, NM 04216", "141 Hodges Mountains, Kramerville, NM 04216"},
        {"12 rue de la Paix, 75002 Paris", "12 rue de la Paix, 75002 Paris"},
        {"au 5 bis avenue Victor Hugo.", "5 bis avenue Victor Hugo"},
        {"14 Rue Cler, Paris", "14 Rue Cler, Paris"},
        {"Hauptstraße 5, 10115 Berlin", "Hauptstraße 5, 10115 Berlin"},
        {"in der Berliner Straße 12a wohnt", "Berliner Straße 12a"},
        {"Müllerstr. 7, 80331 München", "Müllerstr. 7, 80331 München"},
        {"Kurfürstendamm 21", "Kurfürstendamm 21"},
        {"ul. Marszałkowska 10/12, 00-950 Warszawa", "ul. Marszałkowska 10/12, 00-950 Warszawa"},
        {"al. Jerozolimskie 65", "al. Jerozolimskie 65"},
        {"postcode 10115 Berlin", "10115 Berlin"},
        {"kod 00-950 Warszawa", "00-950 Warszawa"},
    };
    for (const auto& [text, span] : cases) {
        const auto f = found(text);
        BOOST_CHECK_MESSAGE(f.size() == 1 && f[0].first == span && f[0].second == entity_type::address,
                            "'" << text << "' should give one ADDRESS '" << span << "', got " << f.size() << " spans"
                                << (f.empty() ? std::string() : ", first '" + f[0].first + "' " + std::string(name_of(f[0].second))));
    }
    // The labels users' dialogs carry map onto the type.
    for (const char* label : {"ADDRESS", "STREET", "STREET_ADDRESS", "POSTAL_ADDRESS"})
        BOOST_CHECK(entity_type_for_label(label) == entity_type::address);
    // An address next to an invalid byte is still found, on both sides.
    const std::string bad = "\xff" "42 Baker Street\xfe and Hauptstraße 5\xc3";
    const auto f = found(bad);
    BOOST_REQUIRE_EQUAL(f.size(), 2u);
    BOOST_CHECK_EQUAL(f[0].first, "42 Baker Street");
    BOOST_CHECK_EQUAL(f[1].first, "Hauptstraße 5");
    // ADDRESS can be switched off like any type.
    scanner_options o;
    o.types = entity_set::all().without(entity_type::address);
    BOOST_CHECK(found("42 Baker Street", scanner(o)).empty());
}

// Numbers before capitalised words, years after words, and courts are not
// addresses; a street needs its number and its street word.
BOOST_AUTO_TEST_CASE(address_look_alikes_are_not_addresses) {
    for (const char* text : {"in Spring 2021 we moved", "String 5 is loose", "We shipped 12 Apple Watch bands",
                             "the 3 Supreme Court justices", "page 5 Street Fighter", "Chapter 3 Road trips",
                             "the 5 Great Lakes", "we saw 3 Red Lights", "Room 101 is free",
                             "Room 101", "Meet at the Main Street Station", "Windows 11 Pro", "Top 10 Places",
                             "rue de la Paix", "Baker Street", "version 12345 released", "Hauptstraße", "ul. 5"}) {
        const auto f = found(text);
        for (const auto& [v, t] : f) BOOST_TEST_MESSAGE("'" << text << "': " << name_of(t) << " [" << v << "]");
        BOOST_CHECK_MESSAGE(std::none_of(f.begin(), f.end(), [](const auto& x) { return x.second == entity_type::address; }),
                            "'" << text << "' is not an address");
    }
    BOOST_CHECK(has("on 12 March 2021 we", "12 March 2021", entity_type::date));  // a date, not "12 March"
}

BOOST_AUTO_TEST_CASE(rejects_invalid_identifiers) {
    BOOST_CHECK(found("SSN 000-12-3456 666-12-3456 912-12-3456 123-00-4567 123-45-0000").empty());  // SSA rules
    BOOST_CHECK(found("card 4111 1111 1111 1112").empty());                                            // Luhn fails
    BOOST_CHECK(found("IBAN GB83 WEST 1234 5698 7654 32").empty());                                    // mod-97 fails
    BOOST_CHECK(found("IBAN GB82 WEST 1234 5698 7654 3").empty());                                     // wrong length for GB
    BOOST_CHECK(found("ip 256.1.1.1 and 1.2.3.4.5 and 01.2.3.4").empty());
    BOOST_CHECK(found("at 10:30:15 with std::vector, 1:2:3").empty());
    BOOST_CHECK(found("not mail: a@b, x@localhost, @@, a@.com").empty());
    BOOST_CHECK(found("dates 2021-02-30 and 13/13/2020").empty());
    BOOST_CHECK(found("[name-1] [NAME-] [NAME-1234567] [-1]").empty());
    BOOST_CHECK(found("On Monday The Store opened").empty());
}

BOOST_AUTO_TEST_CASE(options_filter_types_and_confidence) {
    const std::string t = "mail a@b.com, I live in Ulaanbaatar";
    scanner only_email(scanner_options{entity_set{}.with(entity_type::email)});
    BOOST_REQUIRE_EQUAL(only_email.scan(t).size(), 1u);
    scanner confident(scanner_options{entity_set::all(), 0.7f});  // drops the 0.6 context-only location
    BOOST_CHECK_EQUAL(confident.scan(t).size(), 1u);
    scanner no_context(scanner_options{entity_set::all(), 0.5f, false});
    BOOST_CHECK_EQUAL(no_context.scan(t).size(), 1u);
}

BOOST_AUTO_TEST_CASE(gazetteer_from_file) {
    const auto path = std::filesystem::temp_directory_path() / ("lethe-gaz-" + std::to_string(::getpid()));
    lethe::io::write_file_atomic(path, "# towns\nZyxton\nNew Qwerty City\n");
    auto lists = std::make_shared<gazetteers>(*gazetteers::defaults());
    lists->locations.load_file(path);
    scanner sc(scanner_options{}, lists);
    const std::string t = "We drove from Zyxton to New Qwerty City.";
    BOOST_CHECK(has(t, "Zyxton", entity_type::location) == false);  // default scanner does not know it
    const auto spans = sc.scan(t);
    BOOST_REQUIRE_EQUAL(spans.size(), 2u);
    BOOST_CHECK_EQUAL(spans[0].text(t), "Zyxton");
    BOOST_CHECK_EQUAL(spans[1].text(t), "New Qwerty City");
    lethe::io::write_file_atomic(path, "ok\n\xff\xfe\n");
    gazetteer g;
    BOOST_CHECK_EXCEPTION(g.load_file(path), lethe::error,
                          [](const lethe::error& e) { return std::string(e.what()).find(":2:") != std::string::npos; });
    std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(spans_never_split_code_points) {
    // Names in UTF-8, invalid bytes around entities, a URL ending in a truncated sequence.
    const std::string t = "Chloé écrit à chloe@exemple.fr \xC3 \xff+33 1 23 45 67 89\xe2\x82 https://exemple.fr/caf\xC3\xA9\xE2\x82 "
                          "Zoë lives in Zürich \xF0\x9F\x98\x80 4111111111111111\x80";
    const auto spans = scanner().scan(t);
    BOOST_CHECK(!spans.empty());
    for (const auto& s : spans) {
        const auto piece = s.text(t);
        BOOST_TEST_MESSAGE(name_of(s.type) << " [" << piece << "]");
        BOOST_CHECK_MESSAGE(first_invalid_utf8(piece) == piece.size(), "span " << name_of(s.type) << " at " << s.begin << " is not whole UTF-8");
    }
    BOOST_CHECK(has(t, "https://exemple.fr/caf\xC3\xA9", entity_type::url));  // cut before the truncated sequence
    BOOST_CHECK(has(t, "Zürich", entity_type::location));
    BOOST_CHECK_EQUAL(first_invalid_utf8("ok \xC3\xA9 \xE2\x82"), 6u);
    BOOST_CHECK_EQUAL(first_invalid_utf8("\xED\xA0\x80"), 0u);  // surrogate
    BOOST_CHECK_EQUAL(first_invalid_utf8("\xC0\xAF"), 0u);      // overlong
}

// A bad byte is a boundary: the well-formed text on both sides is scanned,
// and no span covers the bad byte. Before, "\xff" glued to a number or name
// was read as a letter and hid it.
BOOST_AUTO_TEST_CASE(pii_next_to_invalid_utf8_is_found_on_both_sides) {
    const std::string t = "SSN 123-45-6789\xfe, call 212-555-0134\xff or mail john@example.com\xc3. "
                          "I am John Smith\xff. \xe2\x82John Smith lives in Paris\xed\xa0\x80.";
    const auto spans = scanner().scan(t);
    BOOST_CHECK(has(t, "123-45-6789", entity_type::us_ssn));
    BOOST_CHECK(has(t, "212-555-0134", entity_type::phone));
    BOOST_CHECK(has(t, "john@example.com", entity_type::email));
    BOOST_CHECK(has(t, "Paris", entity_type::location));
    std::size_t persons = 0;
    for (const auto& s : spans) {
        persons += s.type == entity_type::person && s.text(t) == "John Smith";
        BOOST_CHECK_MESSAGE(first_invalid_utf8(s.text(t)) == s.end - s.begin, "span at " << s.begin << " covers a bad byte");
    }
    BOOST_CHECK_EQUAL(persons, 2u);
    // Valid text is scanned as before; a text of bad bytes alone has no span.
    BOOST_CHECK(scanner().scan("\xff\xfe\xc3").empty());
    BOOST_CHECK_EQUAL(first_invalid_utf8(std::string(1000, 'a') + "\xff"), 1000u);
}

BOOST_AUTO_TEST_CASE(spans_sorted_and_disjoint_on_random_bytes) {
    lethe::privacy::splitmix64 r{99};
    const std::string alphabet = "0123456789 -./@:+()[]abcdefABCDEF_xyzXYZ\xC3\xA9\xff\n";
    std::string t;
    for (int i = 0; i < 200000; ++i) t += alphabet[static_cast<std::size_t>(r.below(static_cast<int>(alphabet.size())))];
    const auto spans = scanner().scan(t);
    std::size_t last = 0;
    for (const auto& s : spans) {
        BOOST_REQUIRE(s.begin >= last && s.begin < s.end && s.end <= t.size());
        last = s.end;
    }
}

// Hand-written prose full of numbers that are not PII (not produced by the
// corpus generator, so not shaped by the scanner's own rules).
BOOST_AUTO_TEST_CASE(hard_negatives_in_prose) {
    const std::string t =
        "In 2023 we shipped 1,250 units at $19.99 each; revenue grew 12.5% to 3.2 million. Call f(-1) or use 0x1F. "
        "Section 4.2.1 covers pages 12-14. Flight UA 1234 leaves gate B12 at 10:45 AM. Invoice 2023-0042 and order "
        "123456789 are paid. Pi is 3.14159265358979. ISBN 978-3-16-148410-0. The score was 21-14, then 3-2-1. "
        "Temperatures from -5 to +12 degrees. Llama 3.1 8B and Python 3.11.4 on Ubuntu 22.04 LTS. Ratio 16:9, "
        "rows 1-100 of 5000, build 20231105, commit a1b2c3d, port 8080, 404 errors, HTTP/1.1, UTF-8, C++20, "
        "x86-64, 1e-9, 2^31-1 = 2147483647, 10/10 would recommend, 3/4 cup of flour, 1 000 000 people. "
        "The Great Gatsby and War and Peace are novels; Monday and Friday are busy. Apple, Google and Microsoft "
        "reported earnings. Use std::map or boost::asio. Meet at the Main Street Station. Timestamps like "
        "12:30:45 and 2024-13-45 are not dates to keep. Versions 1.2.3.4.5 and 10.0.0 are not addresses.";
    const auto spans = scanner().scan(t);
    for (const auto& s : spans) BOOST_TEST_MESSAGE("false positive: " << name_of(s.type) << " [" << s.text(t) << "]");
    BOOST_CHECK_EQUAL(spans.size(), 0u);
}

// The proof the issue asks for: recall >= 99.5% and precision >= 99% on
// EMAIL, PHONE, US_SSN, CREDIT_CARD, IBAN, IP, URL; PERSON/LOCATION recall
// >= 95%. Structured types must match the gold span exactly; names count
// when the spans overlap. The thresholds are the acceptance bars.
BOOST_AUTO_TEST_CASE(synthetic_corpus_recall_and_precision) {
    privacy_test::corpus_generator gen(20241206);
    const auto c = gen.make(20000);
    const auto spans = scanner().scan(c.text);
    auto group = [](entity_type t) -> std::string {
        if (t == entity_type::ipv4 || t == entity_type::ipv6) return "IP";
        return std::string(name_of(t));
    };
    std::map<std::string, std::size_t> gold_n, pred_n, tp_gold, tp_pred;
    for (const auto& g : c.gold) ++gold_n[group(g.type)];
    for (const auto& s : spans) ++pred_n[group(s.type)];
    // Two-pointer match over sorted, disjoint lists.
    std::size_t j = 0;
    for (const auto& g : c.gold) {
        while (j < spans.size() && spans[j].end <= g.begin) ++j;
        for (std::size_t k = j; k < spans.size() && spans[k].begin < g.end; ++k) {
            const bool names = g.type == entity_type::person || g.type == entity_type::location;
            const bool same = group(spans[k].type) == group(g.type);
            const bool match = names ? same : (same && spans[k].begin == g.begin && spans[k].end == g.end);
            if (match) { ++tp_gold[group(g.type)]; ++tp_pred[group(g.type)]; break; }
        }
    }
    std::printf("synthetic corpus: %zu bytes, %zu gold spans, %zu found\n", c.text.size(), c.gold.size(), spans.size());
    std::printf("%-12s %8s %8s %9s %9s\n", "type", "gold", "found", "recall", "precision");
    for (const auto& [name, n] : gold_n) {
        const double recall = 100.0 * static_cast<double>(tp_gold[name]) / static_cast<double>(n);
        const double precision = pred_n[name] ? 100.0 * static_cast<double>(tp_pred[name]) / static_cast<double>(pred_n[name]) : 0.0;
        std::printf("%-12s %8zu %8zu %8.2f%% %8.2f%%\n", name.c_str(), n, pred_n[name], recall, precision);
        if (name == "PERSON" || name == "LOCATION") {
            BOOST_CHECK_MESSAGE(recall >= 95.0, name << " recall " << recall);
        } else if (name != "DATE") {
            BOOST_CHECK_MESSAGE(recall >= 99.5, name << " recall " << recall);
            BOOST_CHECK_MESSAGE(precision >= 99.0, name << " precision " << precision);
        }
    }
    for (const auto& [name, n] : pred_n)
        if (!gold_n.count(name)) std::printf("%-12s %8d %8zu (false positives)\n", name.c_str(), 0, n);
    // Every type the issue names must be present in the corpus.
    for (const char* t : {"EMAIL", "PHONE", "US_SSN", "CREDIT_CARD", "IBAN", "IP", "URL", "PERSON", "LOCATION", "ADDRESS"})
        BOOST_CHECK_MESSAGE(gold_n[t] >= 300, t << " has only " << gold_n[t] << " gold spans");
}

BOOST_AUTO_TEST_SUITE_END()

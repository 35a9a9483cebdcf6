#define BOOST_TEST_MODULE operators
#include "lethe_test.hpp"

#include <lethe/privacy.hpp>

using namespace lethe::privacy;

namespace {
const std::string doc = "Mail ann@x.org or bob@y.org, again ann@x.org; call +44 20 7946 0958. Card 4111 1111 1111 1111.";
}

BOOST_AUTO_TEST_SUITE(operators)

BOOST_AUTO_TEST_CASE(typed_numbered_redact_mask) {
    anonymizer typed;
    BOOST_CHECK_EQUAL(typed.anonymize(doc), "Mail <EMAIL> or <EMAIL>, again <EMAIL>; call <PHONE>. Card <CREDIT_CARD>.");
    BOOST_CHECK_EQUAL(typed.counts()[index_of(entity_type::email)], 3u);

    anonymizer numbered(replacement_policy::uniform(operator_kind::numbered_placeholder));
    BOOST_CHECK_EQUAL(numbered.anonymize(doc),
                      "Mail [EMAIL-1] or [EMAIL-2], again [EMAIL-1]; call [PHONE-1]. Card [CREDIT_CARD-1].");
    // Numbering restarts per document.
    BOOST_CHECK_EQUAL(numbered.anonymize("bob@y.org"), "[EMAIL-1]");

    auto p = replacement_policy::uniform(operator_kind::redact);
    p[entity_type::credit_card] = {operator_kind::mask, "", 4, '#'};
    p[entity_type::phone].text = "[removed]";
    p[entity_type::person] = {operator_kind::mask, "", 4, '#'};
    anonymizer red(p);
    BOOST_CHECK_EQUAL(red.anonymize(doc), "Mail  or , again ; call [removed]. Card ###############1111.");
    // Masking counts code points, not bytes.
    BOOST_CHECK_EQUAL(red.replacement_for(entity_type::person, "Jürgen"), "##rgen");
    BOOST_CHECK_EQUAL(red.replacement_for(entity_type::person, "Jürgen").size(), 6u);
}

BOOST_AUTO_TEST_CASE(refuse_replaces_the_whole_answer) {
    auto p = replacement_policy::uniform(operator_kind::typed_placeholder);
    p[entity_type::us_ssn].kind = operator_kind::refuse;
    p.refusal = "I can't share that.";
    anonymizer a(p);
    BOOST_CHECK_EQUAL(a.anonymize("Mail ann@x.org."), "Mail <EMAIL>.");
    BOOST_CHECK_EQUAL(a.anonymize("Your SSN is 078-05-1120, mail ann@x.org."), "I can't share that.");
    BOOST_CHECK_EQUAL(a.refused_documents(), 1u);
}

BOOST_AUTO_TEST_CASE(pseudonyms_keep_format_and_are_consistent) {
    const std::string text =
        "Ann (ann@x.org, +1 415 555 2671, (415) 555-2671, 030 12345678) paid with 4111 1111 1111 1111 and 378282246310005 "
        "from DE89 3704 0044 0532 0130 00 via 192.168.1.20 / 2001:db8::8a2e:370:7334, see https://shop.example.com/o/123 "
        "on March 5th, 2021 and 2021-03-05; SSN 078-05-1120. John Smith lives in New York. Again ann@x.org. "
        "Ship to 42 Baker Street, London SW1A 2AA, to 1600 Pennsylvania Ave NW, Washington, DC 20500, "
        "to 12 rue de la Paix, 75002 Paris, to Hauptstraße 5, 10115 Berlin or to ul. Marszałkowska 10/12, 00-950 Warszawa.";
    auto p = replacement_policy::uniform(operator_kind::pseudonym);
    p.seed = 7;
    anonymizer a(p);
    scanner sc;
    const auto in_spans = sc.scan(text);
    a.begin_document();
    for (const auto& s : in_spans) {
        const std::string v(s.text(text));
        const std::string fake = a.replacement_for(s.type, v);
        BOOST_TEST_MESSAGE(name_of(s.type) << ": " << v << " -> " << fake);
        BOOST_CHECK_NE(fake, v);
        // The fake is found again, alone, as the same type: the format survived.
        const auto again = sc.scan(fake);
        BOOST_CHECK_MESSAGE(again.size() == 1 && again[0].type == s.type && again[0].begin == 0 && again[0].end == fake.size(),
                            name_of(s.type) << " fake '" << fake << "' is not recognised as " << name_of(s.type));
        // Same value, same fake within the document.
        BOOST_CHECK_EQUAL(a.replacement_for(s.type, v), fake);
        // Separators and length kept for the format-preserving types.
        if (s.type == entity_type::phone || s.type == entity_type::credit_card || s.type == entity_type::iban ||
            s.type == entity_type::us_ssn || s.type == entity_type::ipv6) {
            BOOST_REQUIRE_EQUAL(fake.size(), v.size());
            for (std::size_t k = 0; k < v.size(); ++k)
                BOOST_CHECK_EQUAL(lethe::privacy::detail::is_alnum(fake[k]), lethe::privacy::detail::is_alnum(v[k]));
        }
    }
    // Document scope: a new document draws new fakes; dataset scope keeps them.
    const std::string first = a.replacement_for(entity_type::email, "ann@x.org");
    a.begin_document();
    BOOST_CHECK_NE(a.replacement_for(entity_type::email, "ann@x.org"), first);
    p.scope = consistency_scope::dataset;
    anonymizer ds(p);
    ds.begin_document();
    const std::string d1 = ds.replacement_for(entity_type::email, "ann@x.org");
    ds.begin_document();
    BOOST_CHECK_EQUAL(ds.replacement_for(entity_type::email, "ann@x.org"), d1);
    // The seed decides: the same seed gives the same fakes, another seed others.
    anonymizer same(p), other([&] { auto q = p; q.seed = 8; return q; }());
    same.begin_document();
    other.begin_document();
    BOOST_CHECK_EQUAL(same.replacement_for(entity_type::email, "ann@x.org"), d1);
    BOOST_CHECK_NE(other.replacement_for(entity_type::email, "ann@x.org"), d1);
}

BOOST_AUTO_TEST_CASE(policy_from_json_config) {
    const auto j = nlohmann::json::parse(R"({
        "default": "numbered", "seed": 3, "scope": "dataset", "refusal": "No.",
        "entities": {"EMAIL": {"operator": "mask", "keep_last": 3, "mask_char": "x"}, "PHONE": "redact", "US_SSN": "refuse"}})");
    const auto p = policy_from_json(j);
    BOOST_CHECK(p[entity_type::email].kind == operator_kind::mask);
    BOOST_CHECK_EQUAL(p[entity_type::email].keep_last, 3);
    BOOST_CHECK_EQUAL(p[entity_type::email].mask_char, 'x');
    BOOST_CHECK(p[entity_type::phone].kind == operator_kind::redact);
    BOOST_CHECK(p[entity_type::iban].kind == operator_kind::numbered_placeholder);
    BOOST_CHECK(p[entity_type::placeholder].kind == operator_kind::keep);
    BOOST_CHECK(p.scope == consistency_scope::dataset);
    BOOST_CHECK_EQUAL(p.seed, 3u);
    anonymizer a(p);
    BOOST_CHECK_EQUAL(a.anonymize("ann@x.org, DE89370400440532013000"), "xxxxxxorg, [IBAN-1]");

    auto error_mentions = [](const char* json, const char* needle) {
        try {
            policy_from_json(nlohmann::json::parse(json));
        } catch (const lethe::error& e) {
            BOOST_TEST_MESSAGE(e.what());
            return std::string(e.what()).find(needle) != std::string::npos;
        }
        return false;
    };
    BOOST_CHECK(error_mentions(R"({"entities": {"EMAIL": "scramble"}})", "scramble"));
    BOOST_CHECK(error_mentions(R"({"entities": {"EMIAL": "redact"}})", "EMIAL"));
    BOOST_CHECK(error_mentions(R"({"entities": {"EMAIL": {"operator": "mask", "keep_lats": 2}}})", "keep_lats"));
    BOOST_CHECK(error_mentions(R"({"scope": "galaxy"})", "scope"));
    BOOST_CHECK(error_mentions(R"({"seed": "x"})", "seed"));
    BOOST_CHECK(error_mentions(R"({"entities": {"EMAIL": {"keep_last": 2}}})", "missing"));
    // Integers are range-checked, never cast: a float or an out-of-range
    // number is an error (a float beyond int was undefined behaviour).
    BOOST_CHECK(error_mentions(R"({"entities": {"EMAIL": {"operator": "mask", "keep_last": 4.7e53}}})", "keep_last: must be an integer"));
    BOOST_CHECK(error_mentions(R"({"entities": {"EMAIL": {"operator": "mask", "keep_last": 2.0}}})", "keep_last: must be an integer"));
    BOOST_CHECK(error_mentions(R"({"entities": {"EMAIL": {"operator": "mask", "keep_last": 3000000000}}})", "keep_last: must be in [0, "));
    BOOST_CHECK(error_mentions(R"({"entities": {"EMAIL": {"operator": "mask", "keep_last": -1}}})", "keep_last: must be in [0, "));
    BOOST_CHECK(error_mentions(R"({"entities": {"EMAIL": {"operator": "hash", "hash_hex_chars": 65}}})", "hash_hex_chars: must be in [1, 64]"));
    BOOST_CHECK(error_mentions(R"({"seed": -3})", "seed: must be a non-negative integer"));
    BOOST_CHECK(error_mentions(R"({"seed": 1e30})", "seed: must be a non-negative integer"));
    BOOST_CHECK_EQUAL(policy_from_json(nlohmann::json::parse(R"({"seed": 18446744073709551615})")).seed, ~std::uint64_t{0});
    // The hash operator without a key provider is refused up front.
    BOOST_CHECK_THROW(anonymizer(policy_from_json(nlohmann::json::parse(R"({"default": "hash"})"))), lethe::error);
}

BOOST_AUTO_TEST_SUITE_END()

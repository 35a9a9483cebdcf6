#define BOOST_TEST_MODULE gazetteer
#include "lethe_test.hpp"

#include <lethe/privacy.hpp>

using namespace lethe::privacy;

BOOST_AUTO_TEST_SUITE(gazetteer_suite)

// The built-in lists (name_lists.hpp, made by tools/gazetteer/make_names.py):
// realistic size, the names the scrubber issue named, several scripts.
BOOST_AUTO_TEST_CASE(built_in_name_lists) {
    const auto& g = *gazetteers::defaults();
    BOOST_TEST(g.first_names.size() >= 20000u);
    BOOST_TEST(g.last_names.size() >= 20000u);
    for (const char* n : {"Jane", "François", "Zoë", "John", "Maria", "Jürgen", "Łukasz", "Иван", "Αλέξανδρος", "Seo-yeon"})
        BOOST_TEST(g.first_names.contains(n), n);
    for (const char* n : {"Doe", "Dupont", "Müller", "Smith", "Nowak", "O'Brien", "Петров", "佐藤"})
        BOOST_TEST(g.last_names.contains(n), n);
    // English words and calendar words are not given names: they start sentences.
    for (const char* n : {"Will", "May", "Mark", "Bill", "Can", "June", "Monday", "The", "Street"})
        BOOST_TEST(!g.first_names.contains(n), n);
    std::size_t non_ascii = 0;
    for (const auto& n : g.first_names.entries()) {
        BOOST_TEST_REQUIRE(!detail::is_stopword(n), n);
        BOOST_TEST_REQUIRE(first_invalid_utf8(n) == n.size(), n);
        BOOST_TEST_REQUIRE(n.find(' ') == std::string::npos, n);
        non_ascii += static_cast<unsigned char>(n[0]) >= 0x80;
    }
    BOOST_TEST(non_ascii >= 2000u);  // Cyrillic, Greek, Han, Hangul, Arabic, accented Latin
    // The synthetic world's people come from the common lists at the head.
    BOOST_TEST(g.first_names.entries().front() == name_lists::common_given_names[0]);
    BOOST_TEST(g.last_names.entries().front() == name_lists::common_surnames[0]);
}

BOOST_AUTO_TEST_CASE(names_in_several_scripts_are_found) {
    const scanner sc;
    auto persons = [&](const std::string& t) {
        std::vector<std::string> out;
        for (const auto& s : sc.scan(t))
            if (s.type == entity_type::person) out.emplace_back(s.text(t));
        return out;
    };
    using v = std::vector<std::string>;
    BOOST_TEST(persons("Jane Doe and Jane Smith wrote.") == (v{"Jane Doe", "Jane Smith"}), boost::test_tools::per_element());
    BOOST_TEST(persons("François Dupont met Zoë Müller.") == (v{"François Dupont", "Zoë Müller"}), boost::test_tools::per_element());
    BOOST_TEST(persons("Hi Élodie, Łukasz Nowak and Иван Петров are here.") == (v{"Élodie", "Łukasz Nowak", "Иван Петров"}),
               boost::test_tools::per_element());
    BOOST_TEST(persons("Hans Ödegaard, Dear Ødön") == (v{"Hans Ödegaard", "Ødön"}), boost::test_tools::per_element());
    BOOST_TEST(persons("Mr. 佐藤 called") == (v{"佐藤"}), boost::test_tools::per_element());
    // Sentence starts that are words, and places that are also given names.
    BOOST_TEST(persons("Will you come? May I? Mark the box. Bill me later.").empty());
    // A given name that is a word is a name before a listed surname.
    BOOST_TEST(persons("Mark Goodman and Roger Walker") == (v{"Mark Goodman", "Roger Walker"}), boost::test_tools::per_element());
    // A place prefix makes a name a place.
    for (const char* place : {"Port Elizabeth", "Lake Louise", "North Chelsea", "Saint Corinne"}) {
        const std::string text = std::string("It left ") + place + " today.";
        const auto sp = sc.scan(text);
        BOOST_TEST_REQUIRE(sp.size() == 1u, place);
        BOOST_TEST(sp[0].text(text) == place);
        BOOST_TEST((sp[0].type == entity_type::location));
    }
    const std::string t = "I flew to Paris and Hong Kong.";
    const auto spans = sc.scan(t);
    BOOST_REQUIRE_EQUAL(spans.size(), 2u);
    BOOST_TEST((spans[0].type == entity_type::location));
    BOOST_TEST(spans[1].text(t) == "Hong Kong");
    BOOST_TEST((spans[1].type == entity_type::location));
}

BOOST_AUTO_TEST_SUITE_END()

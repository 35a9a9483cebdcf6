#define BOOST_TEST_MODULE utf8
// to_valid_utf8 and first_invalid_utf8 against CPython's
// bytes.decode("utf-8", errors="replace") (tests/fixtures/core/utf8_replace.json,
// made by tools/golden/utf8_replace.py).
#include <lethe/core/utf8.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "lethe_test.hpp"

namespace {
std::string from_hex(const std::string& h) {
    std::string s;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2) s.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
    return s;
}
}  // namespace

BOOST_AUTO_TEST_CASE(hand_cases) {
    using lethe::to_valid_utf8;
    const std::string fffd = "\xEF\xBF\xBD";
    BOOST_TEST(to_valid_utf8("caf\xC3\xA9") == "caf\xC3\xA9");
    BOOST_TEST(to_valid_utf8("ab\xE6\x97") == "ab" + fffd);             // a character cut off: one U+FFFD
    BOOST_TEST(to_valid_utf8("\xED\xA0\x80") == fffd + fffd + fffd);    // a surrogate: each byte
    BOOST_TEST(to_valid_utf8("\xC0\xAF") == fffd + fffd);               // overlong
    BOOST_TEST(to_valid_utf8("\xE6\x97x") == fffd + "x");
    BOOST_TEST(lethe::first_invalid_utf8("ok\xFFok") == 2u);
    BOOST_TEST(lethe::first_invalid_utf8("ok") == 2u);
}

BOOST_AUTO_TEST_CASE(matches_cpython_replace) {
    const auto j = nlohmann::json::parse(lethe_test::read_file(lethe_test::fixture_path("core/utf8_replace.json")));
    std::size_t n = 0, invalid = 0;
    for (const auto& c : j.at("cases")) {
        const std::string s = from_hex(c.at("in").get<std::string>());
        const std::string want = from_hex(c.at("out").get<std::string>());
        BOOST_TEST_CONTEXT("case " << n << " in " << c.at("in").get<std::string>()) {
            BOOST_TEST(lethe::to_valid_utf8(s) == want);
            BOOST_TEST((lethe::first_invalid_utf8(s) == s.size()) == (want == s));
        }
        invalid += want != s;
        ++n;
    }
    BOOST_TEST(n > 300u);
    BOOST_TEST(invalid > 100u);  // the fixture exercises the replacement
}

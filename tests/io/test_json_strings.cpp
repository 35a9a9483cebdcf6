// Tests for lethe/io/json_strings.hpp: string values rewritten in place,
// every other byte kept; malformed text rejected with its column.
#define BOOST_TEST_MODULE json_strings
#include "lethe_test.hpp"

#include <lethe/io/json_strings.hpp>

#include <string>
#include <vector>

using namespace lethe::io;

namespace {
// Upper-cases every value under a key path ending in `key` ("" = all).
std::string shout(std::string_view text, const std::string& key = "") {
    return rewrite_json_strings(text, [&](std::string& v, std::span<const std::string> keys) {
        if (!key.empty() && (keys.empty() || keys.back() != key)) return false;
        for (auto& c : v) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
        return true;
    });
}
}  // namespace

BOOST_AUTO_TEST_CASE(untouched_text_is_kept_byte_for_byte) {
    const std::string t = "{ \"z\" :1.50e0 ,\"a\":[ \"x\\u00e9\\/y\", null,true ],  \"m\": {\"k\":\"v\"} }  ";
    const auto same = rewrite_json_strings(t, [](std::string&, std::span<const std::string>) { return false; });
    BOOST_TEST(same == t);
}

BOOST_AUTO_TEST_CASE(values_are_rewritten_keys_and_layout_kept) {
    BOOST_TEST(shout("{ \"b\" : \"hi\",\"a\":[\"x\", 2] }") == "{ \"b\" : \"HI\",\"a\":[\"X\", 2] }");
    BOOST_TEST(shout("\"top\"") == "\"TOP\"");
    // Only values whose innermost key is "text"; the key "text" itself stays.
    BOOST_TEST(shout(R"({"text":"a","meta":{"text":"b","id":"c"},"list":[{"text":"d"}]})", "text") ==
               R"({"text":"A","meta":{"text":"B","id":"c"},"list":[{"text":"D"}]})");
}

BOOST_AUTO_TEST_CASE(keys_are_the_path_to_the_value) {
    std::vector<std::string> seen;
    (void)rewrite_json_strings(R"({"messages":[{"role":"user","content":"x"}],"id":"7"})",
                               [&](std::string& v, std::span<const std::string> keys) {
                                   std::string p;
                                   for (const auto& k : keys) p += k + "/";
                                   seen.push_back(p + v);
                                   return false;
                               });
    const std::vector<std::string> want = {"messages/role/user", "messages/content/x", "id/7"};
    BOOST_TEST(seen == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(escapes_decode_and_reencode) {
    std::string got;
    const auto out = rewrite_json_strings(R"(["a\"b\\c\n\t\u0041\ud83d\ude00"])",
                                          [&](std::string& v, std::span<const std::string>) {
                                              got = v;
                                              v += "\x01";
                                              return true;
                                          });
    BOOST_TEST(got == "a\"b\\c\n\tA\xF0\x9F\x98\x80");
    BOOST_TEST(out == "[\"a\\\"b\\\\c\\n\\tA\xF0\x9F\x98\x80\\u0001\"]");
    BOOST_TEST(check_json(R"(["\ud800"])").has_value());  // a lone surrogate is malformed
    BOOST_TEST(nlohmann::json::parse(out)[0].get<std::string>() == got + "\x01");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_in_a_string_is_kept_not_fatal) {
    std::string seen;
    const std::string t = "{\"t\":\"ok \xff mail\"}";
    const auto out = rewrite_json_strings(t, [&](std::string& v, std::span<const std::string>) {
        seen = v;
        v.replace(v.find("mail"), 4, "MAIL");
        return true;
    });
    BOOST_TEST(seen == "ok \xff mail");
    BOOST_TEST(out == "{\"t\":\"ok \xff MAIL\"}");
}

BOOST_AUTO_TEST_CASE(malformed_text_names_the_column) {
    for (const char* bad : {"{\"a\":1,}", "{\"a\" 1}", "[1, 2", "", "{\"a\":\"x\"} extra", "\"ctl\x01\""}) {
        const auto e = check_json(bad);
        BOOST_REQUIRE_MESSAGE(e.has_value(), "accepted: " << bad);
        BOOST_TEST(e->column >= 1u);
        BOOST_TEST(e->message.find("line 1") == std::string::npos);  // the caller names the line
    }
    BOOST_TEST(check_json("{\"a\":1,}")->column == 8u);
    LETHE_CHECK_THROWS_WITH(shout("{\"a\":1,}"), "JSON text:8:");
    BOOST_TEST(!check_json(" {\"a\" : [1, \"\xff\"]} ").has_value());
    // nlohmann stops at a NUL byte as at the end of the input; lethe refuses it.
    const std::string nul("{\"a\":1}\0{\"b", 11);
    BOOST_REQUIRE(check_json(nul).has_value());
    BOOST_TEST(check_json(nul)->column == 8u);
}

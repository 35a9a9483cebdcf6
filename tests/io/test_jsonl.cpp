#define BOOST_TEST_MODULE jsonl
#include "lethe_test.hpp"

#include <lethe/io/jsonl.hpp>

#include <filesystem>
#include <sstream>

namespace fs = std::filesystem;
using namespace lethe::io;

BOOST_AUTO_TEST_SUITE(jsonl)

BOOST_AUTO_TEST_CASE(reads_records_with_line_numbers) {
    std::istringstream in("{\"a\": 1}\r\n\n   \n[1, 2]\n\"s\"\n");
    std::vector<std::size_t> lines;
    const auto rep = read_jsonl(in, [&](nlohmann::json&& j, std::size_t line) {
        BOOST_CHECK(!j.is_null());
        lines.push_back(line);
    });
    BOOST_CHECK_EQUAL(rep.lines, 5u);
    BOOST_CHECK_EQUAL(rep.records, 3u);
    BOOST_CHECK(lines == (std::vector<std::size_t>{1, 4, 5}));  // blank lines count, but are not records
}

BOOST_AUTO_TEST_CASE(malformed_lines_skip_or_fail) {
    const std::string text = "{\"a\": 1}\n{\"a\": \n{\"a\": \"x\"}\n{\"a\": 3}\n";
    auto use = [](nlohmann::json&& j, std::size_t) { (void)j.at("a").get<int>(); };  // line 3: wrong type
    {
        std::istringstream in(text);
        const auto rep = read_jsonl(in, use, {on_malformed::skip, "mem"});
        BOOST_CHECK_EQUAL(rep.records, 2u);
        BOOST_REQUIRE_EQUAL(rep.skipped.size(), 2u);
        BOOST_CHECK_EQUAL(rep.skipped[0].line, 2u);
        BOOST_CHECK_EQUAL(rep.skipped[1].line, 3u);
        // A syntax error names its column, not nlohmann's "line 1" of the one-line text.
        BOOST_CHECK_EQUAL(rep.skipped[0].message.rfind("7: syntax error", 0), 0u);
        BOOST_CHECK(rep.skipped[0].message.find("line 1") == std::string::npos);
    }
    {
        // A NUL byte ends nlohmann's input; the rest of the line must not be ignored.
        std::istringstream in(std::string("{\"a\": 1}\0{\"a\": 2}\n", 18));
        const auto rep = read_jsonl(in, use, {on_malformed::skip, "mem"});
        BOOST_CHECK_EQUAL(rep.records, 0u);
        BOOST_REQUIRE_EQUAL(rep.skipped.size(), 1u);
        BOOST_CHECK(rep.skipped[0].message.find("9: NUL byte") != std::string::npos);
    }
    std::istringstream in(text);
    BOOST_CHECK_EXCEPTION(read_jsonl(in, use, {on_malformed::fail, "mem"}), lethe::error,
                          [](const lethe::error& e) { return std::string(e.what()).find("mem:2:") != std::string::npos; });
    // Callback errors carry the line too.
    std::istringstream in2("1\n2\n");
    BOOST_CHECK_EXCEPTION(read_jsonl(in2, [](nlohmann::json&& j, std::size_t) {
                              lethe::require(j.get<int>() != 2, "check", "two is not allowed");
                          }),
                          lethe::error, [](const lethe::error& e) { return std::string(e.what()).find(":2: check: two") != std::string::npos; });
}

BOOST_AUTO_TEST_CASE(writer_is_atomic_and_round_trips) {
    const fs::path dir = fs::temp_directory_path() / ("lethe-jsonl-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path p = dir / "out.jsonl";
    {
        jsonl_writer w(p);
        w.write({{"prompt", "a\nb"}, {"n", 1}});
        w.write({{"prompt", "caf\xC3\xA9"}});
        w.commit();
        BOOST_CHECK_EQUAL(w.records(), 2u);
    }
    std::vector<nlohmann::json> back;
    read_jsonl_file(p, [&](nlohmann::json&& j, std::size_t) { back.push_back(std::move(j)); });
    BOOST_REQUIRE_EQUAL(back.size(), 2u);
    BOOST_CHECK_EQUAL(back[0]["prompt"].get<std::string>(), "a\nb");  // newlines escaped: one record per line
    BOOST_CHECK_EQUAL(back[1]["prompt"].get<std::string>(), "caf\xC3\xA9");
    {
        jsonl_writer w(p);
        w.write({{"x", 1}});
        // no commit: the old file stays
    }
    std::size_t n = 0;
    read_jsonl_file(p, [&](nlohmann::json&&, std::size_t) { ++n; });
    BOOST_CHECK_EQUAL(n, 2u);
    {
        jsonl_writer w(p);
        BOOST_CHECK_THROW(w.write({{"bad", std::string("\xff")}}), nlohmann::json::exception);  // invalid UTF-8 is refused
    }
    BOOST_CHECK_THROW(read_jsonl_file(dir / "missing.jsonl", [](nlohmann::json&&, std::size_t) {}), lethe::error);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()

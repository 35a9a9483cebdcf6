// tests/fuzz/fuzz_json_strings.hpp - the in-place JSON string rewriter
// (lethe/io/json_strings.hpp) that lethe-scrub runs on every JSONL line. The
// first byte picks the edit: none, the same value written back, or a value
// with quotes, backslashes, control bytes and UTF-8 in it.
#pragma once

#include <lethe/io/json_strings.hpp>

#include <string>

#include "fuzz_common.hpp"

namespace lethe_fuzz {

namespace json_strings_detail {
inline void replace_strings(nlohmann::json& j, const std::string& by) {
    if (j.is_string()) j = by;
    else if (j.is_array() || j.is_object())
        for (auto& v : j) replace_strings(v, by);
}
}  // namespace json_strings_detail

inline int fuzz_json_strings(const std::uint8_t* data, std::size_t size) {
    using namespace lethe;
    input in(data, size);
    const std::uint8_t mode = in.byte() % 3;
    const std::string text(in.rest());
    const std::string by = "q\"b\\s\n\x01 \xC3\xA9/";
    return reject_cleanly([&] {
        const bool valid = !io::check_json(text).has_value();
        const auto out = io::rewrite_json_strings(text, [&](std::string& v, std::span<const std::string>) {
            if (mode == 0) return false;
            if (mode == 2) v = by;
            return true;
        });
        LETHE_FUZZ_CHECK(valid, "a text check_json refuses was rewritten");
        if (mode == 0) LETHE_FUZZ_CHECK(out == text, "no edit, yet the text changed");
        LETHE_FUZZ_CHECK(!io::check_json(out).has_value(), "the rewritten text is not JSON");
        if (first_invalid_utf8(text) != text.size()) return;
        nlohmann::json want = nlohmann::json::parse(text);
        if (mode == 2) json_strings_detail::replace_strings(want, by);
        LETHE_FUZZ_CHECK(nlohmann::json::parse(out) == want, "the rewritten text holds other values");
    });
}

}  // namespace lethe_fuzz

// examples/support/cli.hpp - command-line parsing the examples share: numbers
// and comma-separated lists.
#pragma once

#include <charconv>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace lethe_examples {

// The value of `flag` as a T; `fail(message)` reports a bad one and does not
// return (each example prints its own name and usage hint).
template <class T, class Fail>
T parse_number(std::string_view flag, std::string_view text, Fail&& fail) {
    T v{};
    if constexpr (std::is_floating_point_v<T>) {
        std::istringstream is{std::string(text)};
        is >> v;
        if (!is || !is.eof()) fail(std::string(flag) + ": '" + std::string(text) + "' is not a number");
    } else {
        const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
        if (r.ec != std::errc{} || r.ptr != text.data() + text.size())
            fail(std::string(flag) + ": '" + std::string(text) + "' is not a non-negative integer");
    }
    return v;
}

// "a,b,c" -> {"a", "b", "c"}; empty parts are dropped.
inline std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at <= s.size()) {
        const auto comma = s.find(',', at);
        const std::string part = s.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        if (!part.empty()) out.push_back(part);
        if (comma == std::string::npos) break;
        at = comma + 1;
    }
    return out;
}

}  // namespace lethe_examples

// examples/support/cli.hpp - command-line number parsing the examples share.
#pragma once

#include <charconv>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

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

}  // namespace lethe_examples

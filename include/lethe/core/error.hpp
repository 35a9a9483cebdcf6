// lethe/core/error.hpp - the one exception type lethe throws.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace lethe {

// Every recoverable failure in lethe throws lethe::error. The message names
// where the problem is (function, field, row, line or byte offset) and what
// was wrong, e.g. "orpo_loss: row 3: completion mask is empty".
class error : public std::runtime_error {
public:
    explicit error(const std::string& what) : std::runtime_error(what) {}
    explicit error(const char* what) : std::runtime_error(what) {}
};

namespace detail {
template <class... Parts>
std::string concat(Parts&&... parts) {
    std::ostringstream os;
    (os << ... << std::forward<Parts>(parts));
    return os.str();
}
}  // namespace detail

// Throws lethe::error with the streamed concatenation of `parts`, prefixed by
// `where` ("where: what").
template <class... Parts>
[[noreturn]] void fail(std::string_view where, Parts&&... parts) {
    throw error(detail::concat(where, ": ", std::forward<Parts>(parts)...));
}

// `require(cond, where, parts...)` throws when `cond` is false. The message
// parts are only formatted on failure.
template <class... Parts>
void require(bool cond, std::string_view where, Parts&&... parts) {
    if (!cond) fail(where, std::forward<Parts>(parts)...);
}

}  // namespace lethe

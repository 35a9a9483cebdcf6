// tests/fuzz/fuzz_common.hpp - what the fuzz entries share.
//
// Each input surface has one entry `int fuzz_<target>(const uint8_t*, size_t)`
// in tests/fuzz/fuzz_<target>.hpp, called by its libFuzzer binary
// (fuzz_main.cpp) and by the Boost regression test (test_fuzz_regressions.cpp)
// on every committed corpus seed and reproducer.
//
// The contract an entry checks: a hostile input may only be rejected with
// lethe::error (a clean rejection, swallowed by reject_cleanly). Anything
// else - a crash, a sanitizer report, another exception type, a hang, an
// allocation above libFuzzer's 2 GB limit, or a documented invariant that
// does not hold (LETHE_FUZZ_CHECK) - is a bug.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <lethe/core/error.hpp>

namespace lethe_fuzz {

// A documented property of the library did not hold. Thrown rather than
// abort()ed so the Boost test can report it; under libFuzzer it escapes
// LLVMFuzzerTestOneInput and is reported as a crash with its reproducer.
class invariant_violation : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

[[noreturn]] inline void violated(const char* file, int line, const char* cond, std::string_view detail) {
    std::string m(file);
    m += ':';
    m += std::to_string(line);
    m += ": invariant violated: ";
    m += cond;
    if (!detail.empty()) {
        m += " (";
        m += detail;
        m += ')';
    }
    throw invariant_violation(m);
}

// The message of the last clean rejection on this thread ("" when the last
// input was accepted): the regression test checks it against <file>.expect.
inline std::string& last_rejection() {
    static thread_local std::string m;
    return m;
}

// Runs `body`; a lethe::error is a clean rejection (recorded, not a bug).
template <class Body>
int reject_cleanly(Body&& body) {
    last_rejection().clear();
    try {
        body();
    } catch (const lethe::error& e) {
        last_rejection() = e.what();
    }
    return 0;
}

// Runs `f`, which must not throw at all (a lethe::error here is a bug:
// e.g. a value the library produced that its own reader refuses).
template <class F>
void must_succeed(const char* what, F&& f) {
    try {
        f();
    } catch (const lethe::error& e) {
        throw invariant_violation(std::string(what) + ": unexpected lethe::error: " + e.what());
    }
}

// Reads control bytes off the front of the input, then hands out the rest.
class input {
public:
    input(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
    // The next byte, or 0 once the input is used up.
    std::uint8_t byte() noexcept {
        if (n_ == 0) return 0;
        --n_;
        return *p_++;
    }
    std::string_view rest() const noexcept { return {reinterpret_cast<const char*>(p_), n_}; }
    std::size_t size() const noexcept { return n_; }

private:
    const std::uint8_t* p_;
    std::size_t n_;
};

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) noexcept {
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace lethe_fuzz

#define LETHE_FUZZ_CHECK(cond, detail)                                                  \
    do {                                                                                \
        if (!(cond)) ::lethe_fuzz::violated(__FILE__, __LINE__, #cond, (detail));       \
    } while (0)

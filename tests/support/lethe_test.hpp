// Shared helpers for lethe's tests: fixture paths, tolerances, finite
// differences, seeded random data.
#pragma once

// scripts/gpu-check builds the CUDA tests without CMake, on machines that
// have no Boost libraries installed: there Boost.Test is used header-only.
#if defined(LETHE_BOOST_TEST_HEADER_ONLY)
#include <boost/test/included/unit_test.hpp>
#else
#include <boost/test/unit_test.hpp>
#endif

#include <lethe/core/error.hpp>

#include <cmath>
#include <iomanip>
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace lethe_test {

// tests/fixtures in the source tree. CMake builds compile it into one small
// library (tests/support/lethe_test_paths.cpp), so no other translation unit
// has a path of the checkout in its flags and a compiler cache (.ci/run's
// ccache) serves them to every clone; builds without CMake define the macro.
#if defined(LETHE_FIXTURES_DIR)
inline std::string fixtures_dir() { return LETHE_FIXTURES_DIR; }
#else
std::string fixtures_dir();
#endif

inline std::string fixture_path(const std::string& name) { return fixtures_dir() + "/" + name; }

inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    BOOST_REQUIRE_MESSAGE(f.good(), "cannot open fixture " << path);
    std::ostringstream os;
    os << f.rdbuf();
    return os.str();
}

// Seeded normal data (std::mt19937 + Box-Muller done by hand so the values do
// not depend on the standard library's distribution implementation).
template <class T>
std::vector<T> random_normal(std::size_t n, std::uint32_t seed, double scale = 1.0, double mean = 0.0) {
    std::mt19937 gen(seed);
    std::vector<T> out(n);
    const double two_pi = 6.283185307179586;
    for (std::size_t i = 0; i < n; i += 2) {
        const double u1 = (static_cast<double>(gen()) + 1.0) / 4294967297.0;
        const double u2 = (static_cast<double>(gen()) + 1.0) / 4294967297.0;
        const double r = std::sqrt(-2.0 * std::log(u1));
        out[i] = static_cast<T>(mean + scale * r * std::cos(two_pi * u2));
        if (i + 1 < n) out[i + 1] = static_cast<T>(mean + scale * r * std::sin(two_pi * u2));
    }
    return out;
}

// |a - b| <= atol + rtol * |b|, with a message naming the index.
inline bool close(double a, double b, double rtol, double atol = 0.0) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    if (std::isinf(a) || std::isinf(b)) return a == b;
    return std::abs(a - b) <= atol + rtol * std::abs(b);
}

// The message of the lethe::error that f() throws, or "<no error>".
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const lethe::error& e) {
        return e.what();
    }
    return "<no error>";
}

}  // namespace lethe_test

#define LETHE_CHECK_CLOSE(a, b, rtol, atol)                                                                  \
    BOOST_CHECK_MESSAGE(::lethe_test::close((a), (b), (rtol), (atol)),                                       \
                        #a " = " << std::setprecision(17) << (a) << " vs " #b " = " << (b) << " (rtol " << (rtol) \
                                 << ", atol " << (atol) << ")")

// expr must throw a lethe::error whose message contains `needle`.
#define LETHE_CHECK_THROWS_WITH(expr, needle)                                                          \
    do {                                                                                               \
        const std::string lethe_msg_ = ::lethe_test::error_of([&] { (void)(expr); });                  \
        BOOST_CHECK_MESSAGE(lethe_msg_.find(needle) != std::string::npos,                              \
                            #expr ": error '" << lethe_msg_ << "' does not contain '" << (needle) << "'"); \
    } while (0)

#define BOOST_TEST_MODULE scanner_adversarial
#include "lethe_test.hpp"

#include <lethe/privacy.hpp>

#include <algorithm>
#include <chrono>
#include <functional>

#include <time.h>

using namespace lethe::privacy;

namespace {

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Best of 5 CPU times of one scan (seconds). CPU time of this thread, not
// wall time: the build machine is shared and often oversubscribed.
double scan_seconds(const scanner& sc, const std::string& text, std::vector<entity_span>& out) {
    double best = 1e30;
    for (int rep = 0; rep < 5; ++rep) {
        const double t0 = thread_cpu_seconds();
        sc.scan(text, out);
        best = std::min(best, thread_cpu_seconds() - t0);
    }
    return best;
}

// Scans the pattern at n and 8n bytes. Linear work gives a time ratio near 8;
// quadratic would give 64. The bar of 24 leaves 3x room for noise on a
// shared machine (and for sanitizer builds) while still failing quadratic
// behaviour by a wide margin.
void check_linear(const char* name, const std::function<std::string(std::size_t)>& make, std::size_t n) {
    scanner sc;
    std::vector<entity_span> out;
    const std::string small = make(n), big = make(8 * n);
    const double ts = scan_seconds(sc, small, out);
    const double tb = scan_seconds(sc, big, out);
    const double ratio = tb / std::max(ts, 1e-6);
    std::printf("%-28s %9zu B: %8.3f ms   %9zu B: %8.3f ms   ratio %5.2f (%.0f MB/s)\n", name, small.size(), ts * 1e3,
                big.size(), tb * 1e3, ratio, static_cast<double>(big.size()) / tb / 1e6);
    BOOST_CHECK_MESSAGE(ratio < 24.0, name << ": time ratio " << ratio << " for 8x the input");
    for (const auto& s : out) BOOST_REQUIRE(s.begin < s.end && s.end <= big.size());
}

std::string repeat(std::string_view unit, std::size_t bytes) {
    std::string s;
    s.reserve(bytes + unit.size());
    while (s.size() < bytes) s += unit;
    return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(adversarial)

BOOST_AUTO_TEST_CASE(pathological_inputs_scale_linearly) {
    const std::size_t n = 128 * 1024;
    check_linear("digits", [](std::size_t b) { return repeat("0123456789", b); }, n);
    check_linear("'@'", [](std::size_t b) { return repeat("@", b); }, n);
    check_linear("a@a@ chains", [](std::size_t b) { return repeat("a.b@c", b); }, n);
    check_linear("nested brackets", [](std::size_t b) { return repeat("[", b / 2) + repeat("]", b / 2); }, n);
    check_linear("placeholder-like", [](std::size_t b) { return repeat("[NAME-1[NAME-", b); }, n);
    check_linear("digit groups", [](std::size_t b) { return repeat("1-2-3-4-5-6-7-8-9.", b); }, n);
    check_linear("colons (IPv6)", [](std::size_t b) { return repeat("a:b:", b); }, n);
    check_linear("url path", [](std::size_t b) { return "https://x.com/" + repeat("((a)", b); }, n);
    check_linear("capitalised words", [](std::size_t b) { return repeat("John New York Dr. ", b); }, n);
    check_linear("invalid UTF-8", [](std::size_t b) { return repeat("\xff\xc3(\xe2\x82 \x80", b); }, n);
    check_linear("no spaces letters", [](std::size_t b) { return repeat("abcdefgh", b); }, n);
    // Street-address shapes: every word could start or continue an address.
    check_linear("house numbers and names", [](std::size_t b) { return repeat("12 Oak Elm Pine Ash ", b); }, n);
    check_linear("street words", [](std::size_t b) { return repeat("1 Street Road, Apt 2, ", b); }, n);
    check_linear("rue particles", [](std::size_t b) { return repeat("3 rue de la de la de ", b); }, n);
    check_linear("postcodes and cities", [](std::size_t b) { return repeat("10115 Berlin, 00-950 ", b); }, n);
    check_linear("Polish prefixes", [](std::size_t b) { return repeat("ul. al. Aleja Ulica ", b); }, n);
    check_linear("German compounds", [](std::size_t b) { return repeat("Hauptstraße Lindenweg ", b); }, n);
}

BOOST_AUTO_TEST_CASE(ten_megabyte_single_line) {
    // Chat-like text with PII, no newline, 10 MB: finishes and finds everything.
    const std::string unit = "Reach John Smith at john@example.com or +1 415 555 2671, card 4111 1111 1111 1111. ";
    const std::string line = repeat(unit, 10u << 20);
    std::vector<entity_span> out;
    scanner().scan(line, out);
    const std::size_t units = (line.size() + unit.size() - 1) / unit.size();
    BOOST_CHECK_EQUAL(out.size(), 4 * units);
}

BOOST_AUTO_TEST_CASE(hundred_thousand_digits_and_ats_find_nothing_and_do_not_crash) {
    scanner sc;
    BOOST_CHECK(sc.scan(std::string(100000, '7')).empty());
    BOOST_CHECK(sc.scan(std::string(100000, '@')).empty());
    BOOST_CHECK(sc.scan(std::string(100000, '[')).empty());
    BOOST_CHECK(sc.scan(std::string(100000, '\xff')).empty());
    // An e-mail right after 100k '@' is still found.
    const std::string t = std::string(100000, '@') + " bob@example.com";
    const auto s = sc.scan(t);
    BOOST_REQUIRE_EQUAL(s.size(), 1u);
    BOOST_CHECK_EQUAL(s[0].text(t), "bob@example.com");
}

BOOST_AUTO_TEST_SUITE_END()

// Exhaustive checks of the half and bfloat16 conversions: every one of the
// 65536 half patterns round-trips, rounding is to nearest even at every
// midpoint, and the special values behave.
#define BOOST_TEST_MODULE float16
#include <lethe/io/float16.hpp>

#include <cmath>
#include <limits>

#include "lethe_test.hpp"

using namespace lethe::io;

BOOST_AUTO_TEST_SUITE(float16)

BOOST_AUTO_TEST_CASE(half_round_trips_every_pattern) {
    int bad = 0;
    for (std::uint32_t h = 0; h < 65536; ++h) {
        const float f = half_to_float(static_cast<std::uint16_t>(h));
        const std::uint16_t back = float_to_half(f);
        if (std::isnan(f)) {
            bad += ((back & 0x7c00) != 0x7c00 || (back & 0x3ff) == 0);
        } else {
            bad += back != h;
        }
    }
    BOOST_CHECK_EQUAL(bad, 0);
}

BOOST_AUTO_TEST_CASE(half_rounds_to_nearest_even) {
    int bad = 0;
    for (std::uint32_t h = 0; h < 0x7bff; ++h) {  // every finite positive neighbour pair
        const float a = half_to_float(static_cast<std::uint16_t>(h));
        const float b = half_to_float(static_cast<std::uint16_t>(h + 1));
        const float mid = (a + b) / 2;  // exact in float
        bad += float_to_half(std::nextafter(mid, 1e9f)) != h + 1;
        bad += float_to_half(std::nextafter(mid, -1e9f)) != h;
        bad += float_to_half(mid) != ((h & 1) ? h + 1 : h);
    }
    BOOST_CHECK_EQUAL(bad, 0);
    BOOST_CHECK_EQUAL(float_to_half(65504.0f), 0x7bff);
    BOOST_CHECK_EQUAL(float_to_half(70000.0f), 0x7c00);
    BOOST_CHECK_EQUAL(float_to_half(-std::numeric_limits<float>::infinity()), 0xfc00);
    BOOST_CHECK_EQUAL(half_to_float(0x0001), 5.9604644775390625e-8f);  // smallest subnormal
    BOOST_CHECK_EQUAL(float_to_half(-0.0f), 0x8000);
}

BOOST_AUTO_TEST_CASE(bf16) {
    BOOST_CHECK_EQUAL(bf16_to_float(0x3f80), 1.0f);
    BOOST_CHECK_EQUAL(float_to_bf16(1.0f), 0x3f80);
    // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: rounds to even (1.0).
    BOOST_CHECK_EQUAL(float_to_bf16(1.00390625f), 0x3f80);
    BOOST_CHECK_EQUAL(float_to_bf16(1.01171875f), 0x3f82);  // tie, rounds up to even
    BOOST_CHECK(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
    BOOST_CHECK(std::isnan(bf16_to_float(float_to_bf16(std::bit_cast<float>(0x7f800001u)))));  // sNaN stays NaN
    int bad = 0;
    for (std::uint32_t h = 0; h < 65536; ++h) {
        const float f = bf16_to_float(static_cast<std::uint16_t>(h));
        if (!std::isnan(f)) bad += float_to_bf16(f) != h;
    }
    BOOST_CHECK_EQUAL(bad, 0);
}

BOOST_AUTO_TEST_SUITE_END()

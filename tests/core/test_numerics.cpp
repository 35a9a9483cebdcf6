#define BOOST_TEST_MODULE numerics
#include <lethe/core/numerics.hpp>

#include <bit>
#include <cfloat>
#include <cmath>
#include <limits>

#include "lethe_test.hpp"

using namespace lethe;

namespace {
const double inf = std::numeric_limits<double>::infinity();
const double nan_d = std::numeric_limits<double>::quiet_NaN();

// Reference log(1 - e^x) in long double, each branch where it is accurate.
long double ref_log1mexp(long double x) { return x > -1 ? std::log(-std::expm1(x)) : std::log1p(-std::exp(x)); }
}  // namespace

BOOST_AUTO_TEST_SUITE(numerics)

BOOST_AUTO_TEST_CASE(log1mexp_edges) {
    BOOST_CHECK(std::isinf(log1mexp(0.0)) && log1mexp(0.0) < 0);
    BOOST_CHECK(std::isinf(log1mexp(-0.0)) && log1mexp(-0.0) < 0);
    BOOST_CHECK_EQUAL(log1mexp(-inf), 0.0);
    BOOST_CHECK(std::isnan(log1mexp(nan_d)));
    BOOST_CHECK(std::isnan(log1mexp(0.5)));
    BOOST_CHECK(std::isnan(log1mexp(inf)));
    BOOST_CHECK(std::isinf(log1mexp(0.0f)));
    BOOST_CHECK_EQUAL(log1mexp(-std::numeric_limits<float>::infinity()), 0.0f);
}

BOOST_AUTO_TEST_CASE(log1mexp_accuracy_both_branches) {
    // Relative error against long double across the switch at -ln 2, including
    // arguments so close to 0 (denormal, 1e-300) that log1p(-exp(x)) is -inf.
    for (double x : {-1e-300, -4.9e-324, -1e-20, -1e-8, -0.1, -0.6931, -0.6932, -1.0, -10.0, -50.0, -700.0}) {
        const double want = static_cast<double>(ref_log1mexp(static_cast<long double>(x)));
        LETHE_CHECK_CLOSE(log1mexp(x), want, 1e-14, 0.0);
    }
    // The naive formula fails where the stable one must not (the ORPO trap).
    BOOST_CHECK(std::isinf(std::log1p(-std::exp(-1e-20))));
    BOOST_CHECK(std::isfinite(log1mexp(-1e-20)));
    for (float x : {-1e-30f, -1e-6f, -0.5f, -0.7f, -3.0f, -80.0f}) {
        const double want = static_cast<double>(ref_log1mexp(static_cast<long double>(x)));
        LETHE_CHECK_CLOSE(static_cast<double>(log1mexp(x)), want, 2e-6, 0.0);  // a few float ulps
    }
    // Denormal input in float.
    const float den = std::numeric_limits<float>::denorm_min();
    LETHE_CHECK_CLOSE(static_cast<double>(log1mexp(-den)), std::log(static_cast<double>(den)), 1e-6, 0.0);
}

BOOST_AUTO_TEST_CASE(softplus_and_log_sigmoid) {
    for (double x : {-1000.0, -40.0, -1.0, -1e-10, 0.0, 1e-10, 1.0, 40.0, 1000.0}) {
        const long double lx = x;
        const long double sp = lx > 0 ? lx + std::log1p(std::exp(-lx)) : std::log1p(std::exp(lx));
        LETHE_CHECK_CLOSE(softplus(x), static_cast<double>(sp), 1e-15, 1e-300);
        LETHE_CHECK_CLOSE(log_sigmoid(x), static_cast<double>(-(lx < 0 ? -lx + std::log1p(std::exp(lx))
                                                                       : std::log1p(std::exp(-lx)))),
                          1e-15, 1e-300);
        const double s = sigmoid(x);
        BOOST_CHECK(s >= 0.0 && s <= 1.0);
        LETHE_CHECK_CLOSE(s, std::exp(log_sigmoid(x)), 1e-14, 1e-300);
    }
    BOOST_CHECK_EQUAL(softplus(inf), inf);
    BOOST_CHECK_EQUAL(softplus(-inf), 0.0);
    BOOST_CHECK_EQUAL(log_sigmoid(inf), 0.0);
    BOOST_CHECK_EQUAL(log_sigmoid(-inf), -inf);
    BOOST_CHECK(std::isnan(softplus(nan_d)));
    BOOST_CHECK(std::isnan(log_sigmoid(nan_d)));
    BOOST_CHECK_EQUAL(sigmoid(-inf), 0.0);
    BOOST_CHECK_EQUAL(sigmoid(inf), 1.0);
    BOOST_CHECK_EQUAL(log_sigmoid(-1000.0f), -1000.0f);
}

BOOST_AUTO_TEST_CASE(exp_fast_accuracy) {
    // Max relative error over a dense sweep of the float range that matters.
    double worst = 0.0;
    for (float x = -87.0f; x <= 88.0f; x += 0.001953125f) {
        const double want = std::exp(static_cast<double>(x));
        worst = std::max(worst, std::abs(static_cast<double>(exp_fast(x)) - want) / want);
    }
    BOOST_TEST_MESSAGE("exp_fast max relative error: " << worst);
    BOOST_CHECK_LT(worst, 3e-7);  // about 2.5 float ulps
    BOOST_CHECK_EQUAL(exp_fast(-std::numeric_limits<float>::infinity()), 0.0f);
    BOOST_CHECK_EQUAL(exp_fast(-100.0f), 0.0f);  // below the normal range: flushed
    BOOST_CHECK(std::isinf(exp_fast(100.0f)));
    BOOST_CHECK(std::isinf(exp_fast(std::numeric_limits<float>::infinity())));
    BOOST_CHECK(std::isnan(exp_fast(std::numeric_limits<float>::quiet_NaN())));
    BOOST_CHECK_EQUAL(exp_fast(0.0f), 1.0f);
}

BOOST_AUTO_TEST_CASE(logsumexp_edges) {
    const double a[] = {1.0, 2.0, 3.0};
    LETHE_CHECK_CLOSE(logsumexp(a, 3), std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)), 1e-15, 0.0);
    const double big[] = {1000.0, 1000.0};
    LETHE_CHECK_CLOSE(logsumexp(big, 2), 1000.0 + std::log(2.0), 1e-15, 0.0);  // no overflow
    const double tiny[] = {-1000.0, -1000.0};
    LETHE_CHECK_CLOSE(logsumexp(tiny, 2), -1000.0 + std::log(2.0), 1e-15, 0.0);  // no underflow
    const double all_neg_inf[] = {-inf, -inf};
    BOOST_CHECK_EQUAL(logsumexp(all_neg_inf, 2), -inf);
    BOOST_CHECK_EQUAL(logsumexp(a, 0), -inf);
    const double some_neg_inf[] = {-inf, 0.0, -inf};
    BOOST_CHECK_EQUAL(logsumexp(some_neg_inf, 3), 0.0);
    const double pinf[] = {1.0, inf, 2.0};
    BOOST_CHECK_EQUAL(logsumexp(pinf, 3), inf);
    const double with_nan[] = {1.0, nan_d, 2.0};
    BOOST_CHECK(std::isnan(logsumexp(with_nan, 3)));
    const double den[] = {4.9e-324, -4.9e-324};
    LETHE_CHECK_CLOSE(logsumexp(den, 2), std::log(2.0), 1e-15, 0.0);
    // Strided access reads every other element.
    const double s[] = {0.0, 99.0, 0.0, 99.0};
    LETHE_CHECK_CLOSE(logsumexp(s, 2, 2), std::log(2.0), 1e-15, 0.0);
}

BOOST_AUTO_TEST_CASE(online_logsumexp_merge_equals_single_pass) {
    const auto x = lethe_test::random_normal<double>(1001, 7, 5.0);
    online_logsumexp<double> whole, left, right;
    for (std::size_t i = 0; i < x.size(); ++i) {
        whole.push(x[i]);
        (i < 400 ? left : right).push(x[i]);
    }
    left.merge(right);
    LETHE_CHECK_CLOSE(left.value(), whole.value(), 1e-14, 0.0);
    online_logsumexp<double> empty;
    empty.merge(whole);
    BOOST_CHECK_EQUAL(empty.value(), whole.value());
}


#include <lethe/core/simd.hpp>
#if LETHE_HAS_VECTOR_EXT
BOOST_AUTO_TEST_CASE(simd_exp_matches_scalar) {
    // The vector exp uses the same polynomial as exp_fast: results agree to
    // an ulp (FMA contraction may differ between the two), edges exactly.
    using namespace lethe::simd;
    const float specials[] = {-std::numeric_limits<float>::infinity(), -100.0f, -87.0f, -1.0f, 0.0f, 1.0f, 88.0f, 100.0f,
                              std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()};
    for (float x : specials) {
        vfloat v = broadcast(x);
        const float a = exp(v)[0];
        const float b = exp_fast(x);
        BOOST_CHECK_MESSAGE((std::isnan(a) && std::isnan(b)) || a == b || std::abs(a - b) <= 2e-7f * std::abs(b),
                            "x = " << x << ": simd " << a << " scalar " << b);
        if (!(x > 0)) {
            const float c = exp_nonpositive(v)[0];
            BOOST_CHECK_MESSAGE((std::isnan(c) && std::isnan(b)) || std::abs(c - b) <= 2e-7f * std::abs(b),
                                "x = " << x << ": exp_nonpositive " << c << " scalar " << b);
        }
    }
    double worst = 0;
    for (float x = -87.0f; x <= 0.0f; x += 0.0078125f) {
        const double want = std::exp(static_cast<double>(x));
        worst = std::max(worst, std::abs(static_cast<double>(exp_nonpositive(broadcast(x))[0]) - want) / want);
    }
    BOOST_TEST_MESSAGE("simd::exp_nonpositive max relative error: " << worst);
    BOOST_CHECK_LT(worst, 2.5e-7);  // polynomial 1.5e-7 (fit_exp_poly.py) + reduction and rounding
}

BOOST_AUTO_TEST_CASE(simd_exp_nonpositive_edges) {
    using namespace lethe::simd;
    // Every float in [-1, 0] with a fixed exponent step, each lane different.
    double worst = 0;
    alignas(64) float in[lanes];
    for (float x0 = -1.0f; x0 < 0.0f; x0 += 1.0f / 1024) {
        for (int l = 0; l < lanes; ++l) in[l] = x0 + static_cast<float>(l) / (1024 * lanes);
        const vfloat y = exp_nonpositive(load(in));
        for (int l = 0; l < lanes; ++l) {
            const double want = std::exp(static_cast<double>(in[l]));
            worst = std::max(worst, std::abs(static_cast<double>(y[l]) - want) / want);
        }
    }
    BOOST_CHECK_LT(worst, 2.5e-7);
    BOOST_CHECK_EQUAL(exp_nonpositive(broadcast(0.0f))[0], 1.0f);  // p(0) = 1 and 2^0: exact
    BOOST_CHECK_EQUAL(exp_nonpositive(broadcast(-0.0f))[0], 1.0f);
    BOOST_CHECK_EQUAL(exp_nonpositive(broadcast(-std::numeric_limits<float>::infinity()))[0], 0.0f);
    BOOST_CHECK_EQUAL(exp_nonpositive(broadcast(-88.0f))[0], 0.0f);
    BOOST_CHECK_EQUAL(exp_nonpositive(broadcast(-1e30f))[0], 0.0f);
    // Just above the flush: the true value, within float's subnormal rounding.
    LETHE_CHECK_CLOSE(exp_nonpositive(broadcast(-87.5f))[0], std::exp(-87.5), 1e-6, 1e-44);
    // NaN stays NaN whatever its sign and payload (2^n comes from bit patterns).
    for (std::uint32_t bits : {0x7fc00000u, 0x7fc00001u, 0x7fffffffu, 0xffc00000u, 0x7f800001u})
        BOOST_CHECK_MESSAGE(std::isnan(exp_nonpositive(broadcast(std::bit_cast<float>(bits)))[0]),
                            "NaN bits " << std::hex << bits);
    // max keeps the MAXPS rule: b when either lane is NaN.
    BOOST_CHECK(std::isnan(max(broadcast(1.0f), broadcast(std::numeric_limits<float>::quiet_NaN()))[0]));
    BOOST_CHECK_EQUAL(max(broadcast(std::numeric_limits<float>::quiet_NaN()), broadcast(1.0f))[0], 1.0f);
    BOOST_CHECK_EQUAL(max(broadcast(2.0f), broadcast(1.0f))[0], 2.0f);
}
#endif

BOOST_AUTO_TEST_SUITE_END()

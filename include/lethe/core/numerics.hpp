// lethe/core/numerics.hpp - stable scalar numerics for host and device.
//
// Every function here is LETHE_HD and templated on the floating type so the
// same code serves float hot paths and double gradient checks.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "config.hpp"

namespace lethe {

template <class T>
LETHE_HD constexpr T neg_inf() noexcept { return -std::numeric_limits<T>::infinity(); }
template <class T>
LETHE_HD constexpr T pos_inf() noexcept { return std::numeric_limits<T>::infinity(); }
template <class T>
LETHE_HD constexpr T quiet_nan() noexcept { return std::numeric_limits<T>::quiet_NaN(); }

// NaN test that survives -ffast-math (which lets the compiler assume x == x).
LETHE_HD inline bool is_nan_bits(float x) noexcept {
    const auto u = std::bit_cast<std::uint32_t>(x);
    return (u & 0x7fffffffu) > 0x7f800000u;
}
LETHE_HD inline bool is_nan_bits(double x) noexcept {
    const auto u = std::bit_cast<std::uint64_t>(x);
    return (u & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
}
// True for NaN and +-inf.
LETHE_HD inline bool is_nonfinite_bits(float x) noexcept {
    return (std::bit_cast<std::uint32_t>(x) & 0x7f800000u) == 0x7f800000u;
}
LETHE_HD inline bool is_nonfinite_bits(double x) noexcept {
    return (std::bit_cast<std::uint64_t>(x) & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
}

// exp for float that vectorises under `omp simd` on the host (glibc's expf is
// a scalar call the compiler will not vectorise without -ffast-math).
// Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, then the degree-6
// minimax polynomial of Cephes' expf (S. Moshier), scaled by 2^n through the
// exponent bits. Max relative error about 2e-7 (measured in test_numerics).
// Results below exp(-87.33) flush to 0, above exp(88.37) give +inf; NaN
// propagates. On the device it is the native expf.
LETHE_HD LETHE_ALWAYS_INLINE float exp_fast(float x) noexcept {
#if LETHE_IN_DEVICE_CODE
    return ::expf(x);
#else
    constexpr float lo = -87.3365478515625f;  // exp(lo) is the smallest normal float
    constexpr float hi = 88.3762626647949f;   // keeps 2^n with n <= 127
    const float xc = x < lo ? lo : (x > hi ? hi : x);
    const float n = std::floor(xc * 1.44269504088896341f + 0.5f);
    float r = xc - n * 0.693359375f;   // ln2 split in two so n*ln2_hi is exact
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const auto bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127) << 23;
    const float y = p * std::bit_cast<float>(bits);
    const float big = x > hi ? std::numeric_limits<float>::infinity() : y;
    const float out = x < lo ? 0.0f : big;
    return x != x ? x : out;
#endif
}
LETHE_HD inline double exp_fast(double x) noexcept { return std::exp(x); }

// log(1 - exp(x)) for x <= 0, stable everywhere (Maechler 2012, "Accurately
// computing log(1 - exp(-|a|))"): below -ln2 use log1p(-exp(x)), above it
// log(-expm1(x)). log1mexp(0) = -inf, log1mexp(-inf) = 0, x > 0 gives NaN.
template <class T>
LETHE_HD inline T log1mexp(T x) noexcept {
    constexpr T minus_ln2 = T(-0.693147180559945309417232121458176568);
    if (x > T(0)) return quiet_nan<T>();
    return x > minus_ln2 ? std::log(-std::expm1(x)) : std::log1p(-std::exp(x));
}

// softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)); never overflows.
template <class T>
LETHE_HD inline T softplus(T x) noexcept {
    if (x != x) return x;
    const T ax = x < T(0) ? -x : x;
    return (x > T(0) ? x : T(0)) + std::log1p(std::exp(-ax));
}

// log_sigmoid(x) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|)).
template <class T>
LETHE_HD inline T log_sigmoid(T x) noexcept {
    if (x != x) return x;
    const T ax = x < T(0) ? -x : x;
    return (x < T(0) ? x : T(0)) - std::log1p(std::exp(-ax));
}

// sigmoid without overflow for large |x|.
template <class T>
LETHE_HD inline T sigmoid(T x) noexcept {
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
}

// One-pass ("online") log-sum-exp accumulator (Milakov & Gimelshein 2018):
// keeps the running max m and s = sum exp(x_i - m), rescaling s when m grows.
// Rules at the edges: an empty or all -inf input gives -inf; any +inf gives
// +inf; NaN gives NaN.
template <class T>
struct online_logsumexp {
    T max = neg_inf<T>();
    T sum = T(0);
    bool nan = false;

    LETHE_HD void push(T x) noexcept {
        if (x != x) {
            nan = true;
        } else if (x > max) {
            sum = (max == neg_inf<T>() ? T(0) : sum * std::exp(max - x)) + T(1);
            max = x;
        } else if (x != neg_inf<T>() && max != pos_inf<T>()) {
            sum += std::exp(x - max);
        }
    }
    // Combine with a partial result computed elsewhere (another thread/block).
    LETHE_HD void merge(const online_logsumexp& o) noexcept {
        nan = nan || o.nan;
        if (o.max == neg_inf<T>()) return;
        if (max == neg_inf<T>()) {
            max = o.max;
            sum = o.sum;
            return;
        }
        if (max == pos_inf<T>() || o.max == pos_inf<T>()) {
            max = pos_inf<T>();
            sum = T(1);
            return;
        }
        if (o.max > max) {
            sum = sum * std::exp(max - o.max) + o.sum;
            max = o.max;
        } else {
            sum += o.sum * std::exp(o.max - max);
        }
    }
    LETHE_HD T value() const noexcept {
        if (nan) return quiet_nan<T>();
        if (max == neg_inf<T>() || max == pos_inf<T>()) return max;
        return max + std::log(sum);
    }
};

// log(sum_i exp(x[i * stride])) in one pass over n elements.
template <class T>
LETHE_HD inline T logsumexp(const T* x, index_t n, index_t stride = 1) noexcept {
    online_logsumexp<T> acc;
    for (index_t i = 0; i < n; ++i) acc.push(x[i * stride]);
    return acc.value();
}

}  // namespace lethe

// lethe/core/simd.hpp - a float vector of one register for the host hot loops.
//
// Why not plain loops with `omp simd`: GCC will not if-convert the selects of
// a vectorised exp while -ftrapping-math is on (the default), so such loops
// stay scalar unless users compile with -ffast-math. GCC/Clang vector
// extensions have no such restriction and need no intrinsics headers; the
// width follows the target (16 lanes with AVX-512, 8 with AVX, 4 with SSE2),
// so the same header serves every -march. Other compilers get the
// scalar loops (LETHE_HAS_VECTOR_EXT == 0).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>

#include "config.hpp"

#if !LETHE_IN_DEVICE_CODE && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define LETHE_HAS_VECTOR_EXT 1
#else
#define LETHE_HAS_VECTOR_EXT 0
#endif

#if LETHE_HAS_VECTOR_EXT
namespace lethe::simd {

// One register's worth where the target has AVX-512 or AVX; wider vectors
// than the target's registers would be split piecewise for the selects.
#if defined(__AVX512F__)
inline constexpr int lanes = 16;
#elif defined(__AVX__)
inline constexpr int lanes = 8;
#else
inline constexpr int lanes = 4;
#endif
typedef float vfloat __attribute__((vector_size(lanes * 4)));
typedef std::int32_t vint __attribute__((vector_size(lanes * 4)));

inline vfloat load(const float* p) noexcept {
    vfloat v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}
inline void store(float* p, vfloat v) noexcept { std::memcpy(p, &v, sizeof(v)); }
inline vfloat broadcast(float x) noexcept { return vfloat{} + x; }

inline float hmax(vfloat v) noexcept {
    float m = v[0];
    for (int i = 1; i < lanes; ++i) m = v[i] > m ? v[i] : m;
    return m;
}
inline float hsum(vfloat v) noexcept {
    // Pairwise, so the order is fixed and independent of the target.
    for (int w = lanes / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; ++i) v[i] += v[i + w];
    return v[0];
}

namespace detail {
// 2^n * P(r) for x already clamped to [lo, hi]: Cody-Waite range reduction
// and the Cephes polynomial, as lethe::exp_fast (numerics.hpp).
inline vfloat exp_clamped(vfloat xc) noexcept {
    // Round to nearest by adding and subtracting 1.5 * 2^23 (|value| < 2^22).
    const vfloat n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    vfloat r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    vfloat p = broadcast(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const vint bits = (__builtin_convertvector(n, vint) + 127) << 23;
    return p * std::bit_cast<vfloat>(bits);
}
inline constexpr float exp_lo = -87.3365478515625f;  // exp(lo) is the smallest normal float
inline constexpr float exp_hi = 88.3762626647949f;   // keeps 2^n with n <= 127
}  // namespace detail

// exp on all lanes, with exp_fast's edge rules: below exp(-87.34) flushes to
// 0, above exp(88.38) gives +inf. A NaN lane stays NaN through every step
// (its comparisons are false), so it needs no select of its own.
inline vfloat exp(vfloat x) noexcept {
    const vfloat lo = broadcast(detail::exp_lo), hi = broadcast(detail::exp_hi);
    vfloat xc = x < lo ? lo : x;
    xc = xc > hi ? hi : xc;
    const vfloat y = detail::exp_clamped(xc);
    const vfloat big = x > hi ? broadcast(std::numeric_limits<float>::infinity()) : y;
    return x < lo ? broadcast(0.0f) : big;
}

// exp for lanes known to be <= 0 (x - max in log-sum-exp and softmax): no
// overflow clamp, two selects fewer.
inline vfloat exp_nonpositive(vfloat x) noexcept {
    const vfloat lo = broadcast(detail::exp_lo);
    const vfloat y = detail::exp_clamped(x < lo ? lo : x);
    return x < lo ? broadcast(0.0f) : y;
}

}  // namespace lethe::simd
#endif

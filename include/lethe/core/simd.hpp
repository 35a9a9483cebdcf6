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

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#include <immintrin.h>
#define LETHE_SIMD_X86 1
#else
#define LETHE_SIMD_X86 0
#endif

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

// max(a, b) with the x86 MAXPS rule: a > b ? a : b, so a NaN in either
// lane gives b. One instruction; GCC keeps the same expression on vector
// extensions as compare + blend (two).
inline vfloat max(vfloat a, vfloat b) noexcept {
#if LETHE_SIMD_X86 && defined(__AVX512F__)
    // The masked form with b as the pass-through source is the same VMAXPS;
    // GCC 12's _mm512_max_ps passes _mm512_undefined_ps() there, which GCC
    // 12 reports as a use of an uninitialised value (GCC PR 105593).
    return _mm512_mask_max_ps(b, __mmask16(0xFFFF), a, b);
#elif LETHE_SIMD_X86 && defined(__AVX__)
    return _mm256_max_ps(a, b);
#elif LETHE_SIMD_X86 && defined(__SSE__)
    return _mm_max_ps(a, b);
#else
    return a > b ? a : b;
#endif
}

namespace detail {
// e^r for |r| <= ln2/2 as 1 + r (c1 + r (c2 + r (c3 + r (c4 + r c5)))):
// the degree-5 polynomial with p(0) = 1 that minimises the maximum relative
// error (Lawson's iteration on 4001 points; tests/core/fit_exp_poly.py).
// 9.2e-8 in exact arithmetic, 1.5e-7 evaluated in float.
inline vfloat exp_poly5(vfloat r) noexcept {
    vfloat p = broadcast(8.290315047e-03f);
    p = p * r + 4.189793020e-02f;
    p = p * r + 1.666763574e-01f;
    p = p * r + 4.999915063e-01f;
    p = p * r + 9.999997020e-01f;
    return p * r + 1.0f;
}
}  // namespace detail

// e^x for lanes x <= 0 (x - max in log-sum-exp and softmax). Cody-Waite
// reduction x = n ln2 + r as in exp, then the degree-5 polynomial above;
// 2^n is built in the exponent bits with an integer max that sends
// n <= -127 to exactly 0. Max relative error 2e-7 on [-87.3, 0]
// (test_numerics); below about -87.68 (and at -inf) exactly 0; NaN stays
// NaN (it multiplies the polynomial). 13 vector instructions (8 FMAs, one
// multiply), against 22 for exp.
inline vfloat exp_nonpositive(vfloat x) noexcept {
    // 1.5 * 2^23 + 127: adding it rounds x/ln2 to the nearest integer n and
    // leaves n + 127 in the low mantissa bits (|x / ln2| < 2^22).
    constexpr float magic = 12583039.0f;
    constexpr std::int32_t magic_bits = 0x4B400000;  // bits of 1.5 * 2^23: n + 127 = 0
    const vfloat xc = max(broadcast(-88.0f), x);     // -inf -> -88; NaN stays (MAXPS returns x)
    const vfloat s = xc * 1.44269504088896341f + magic;
    const vfloat n = s - magic;
    vfloat r = xc - n * 0.693359375f;  // ln2 in two parts: n * 0.693359375 is exact
    r = r - n * -2.12194440e-4f;
    vint k = std::bit_cast<vint>(s);
    k = k > magic_bits ? k : vint{} + magic_bits;  // n + 127 >= 0; then 2^n = 0 at n = -127
    return detail::exp_poly5(r) * std::bit_cast<vfloat>(k << 23);
}

// Streaming (non-temporal) store of one vector to an address aligned to
// sizeof(vfloat): the line goes to memory without first being read into the
// cache, which saves a third of the traffic of writing a large output that
// is not read back soon. Follow a run of them with stream_fence().
inline void stream(float* p, vfloat v) noexcept {
#if LETHE_SIMD_X86 && defined(__AVX512F__)
    _mm512_stream_ps(p, v);
#elif LETHE_SIMD_X86 && defined(__AVX__)
    _mm256_stream_ps(p, v);
#elif LETHE_SIMD_X86 && defined(__SSE__)
    _mm_stream_ps(p, v);
#else
    store(p, v);
#endif
}
inline void stream_fence() noexcept {
#if LETHE_SIMD_X86
    _mm_sfence();
#endif
}

}  // namespace lethe::simd
#endif

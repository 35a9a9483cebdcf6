// lethe/io/gguf_matvec.hpp - y = W x straight from a GGUF tensor's blocks.
//
// A decode step multiplies every weight matrix by one activation vector, so
// it is bound by reading W: 4 bytes per weight in fp32, 0.625 for Q4_1 and
// 1.0625 for Q8_0. This product reads the quantised blocks (no dequantised
// copy) and keeps x in fp32, unlike llama.cpp, which also rounds x to 8 bits
// per block; so its result is the fp32 product with the dequantised weights
// up to summation order (and, for Q4_1, the rounding of d q + m, which the
// dequantised weight has and the factored form below does not). Per 32-element block b of a row:
//   Q4_1  sum_j (d q_j + m) x_j = d * sum_j q_j x_j + m * xsum_b
//   Q8_0  d * sum_j q_j x_j
//   other types: the block is dequantised into registers/stack, then dotted.
// xsum_b (the block sums of x) are computed once per call into a caller
// workspace, so the Q4_1 row loop does one multiply-add per weight.
#pragma once

#include <bit>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "../core/config.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/simd.hpp"
#include "gguf_quants.hpp"

namespace lethe::io {

namespace detail {

// f16 -> f32 for all 65536 bit patterns (256 KB, built once; llama.cpp keeps
// the same table): the block scales are converted with one load instead of
// half_to_float's branches, which otherwise cost as much as the 32 products.
inline const float* half_table() {
    static const std::vector<float> table = [] {
        std::vector<float> t(65536);
        for (std::uint32_t h = 0; h < 65536; ++h) t[h] = half_to_float(static_cast<std::uint16_t>(h));
        return t;
    }();
    return table.data();
}

#if LETHE_HAS_VECTOR_EXT
// simd::lanes bytes widened to 32-bit lanes: one vpmovzxbd / vpmovsxbd where
// the target has it (GCC scalarises __builtin_convertvector from 8-bit
// lanes, a byte at a time), SSE2 unpacks otherwise.
typedef std::uint8_t vu8 __attribute__((vector_size(simd::lanes)));
typedef std::int8_t vs8 __attribute__((vector_size(simd::lanes)));
inline simd::vint widen_u8(const unsigned char* p) noexcept {
#if LETHE_SIMD_X86 && defined(__AVX512F__)
    return std::bit_cast<simd::vint>(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#elif LETHE_SIMD_X86 && defined(__AVX2__)
    return std::bit_cast<simd::vint>(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
#elif LETHE_SIMD_X86 && !defined(__AVX__) && defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    const __m128i b = _mm_cvtsi32_si128(static_cast<int>(load_u32(p)));
    return std::bit_cast<simd::vint>(_mm_unpacklo_epi16(_mm_unpacklo_epi8(b, zero), zero));
#else
    vu8 b;
    std::memcpy(&b, p, sizeof(b));
    return __builtin_convertvector(b, simd::vint);
#endif
}
inline simd::vint widen_s8(const unsigned char* p) noexcept {
#if LETHE_SIMD_X86 && defined(__AVX512F__)
    return std::bit_cast<simd::vint>(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#elif LETHE_SIMD_X86 && defined(__AVX2__)
    return std::bit_cast<simd::vint>(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
#elif LETHE_SIMD_X86 && !defined(__AVX__) && defined(__SSE2__)
    // Each byte into the top of a 32-bit lane, then an arithmetic shift down.
    __m128i b = _mm_cvtsi32_si128(static_cast<int>(load_u32(p)));
    b = _mm_unpacklo_epi8(b, b);
    return std::bit_cast<simd::vint>(_mm_srai_epi32(_mm_unpacklo_epi16(b, b), 24));
#else
    vs8 b;
    std::memcpy(&b, p, sizeof(b));
    return __builtin_convertvector(b, simd::vint);
#endif
}
#endif

// Rows [j0, j1) of a matrix of type t (row j at w + j * row_bytes, `cols`
// elements) dotted with n inputs x + r * cols (xsum + r * xsum_stride: their
// block sums, read by Q4_1 only): y[r * y_stride + j] (=|+=) W[j, :] . x[r, :].
// Q4_1 and Q8_0 convert each block's integers to floats once and use them
// for all n inputs; per block b of 32 and input r:
//   Q4_1  d_b * sum_j q_j x_j  + m_b * xsum_b      (w_j = d_b q_j + m_b)
//   Q8_0  d_b * sum_j q_j x_j
// with the sum over j in simd::lanes partial sums, scaled into one vector
// accumulator per input (reduced once per row). Other types dequantise one
// block at a time into a stack buffer (at most 256 floats), then dot it.
template <int NR>
inline void dot_rows_fixed(ggml_type t, const unsigned char* w, index_t row_bytes, index_t cols, const float* x,
                           const float* xsum, index_t xsum_stride, index_t j0, index_t j1, float* y,
                           index_t y_stride, bool accumulate, const float* half) noexcept {
    const auto tr = ggml_traits(t);
    const index_t blocks = cols / tr.block_elements;
#if LETHE_HAS_VECTOR_EXT
    constexpr int L = simd::lanes;
    // Bytes ahead to prefetch (rows are contiguous, so this runs into the
    // next rows): at ~1 uop per weight the out-of-order window holds only a
    // few blocks, too few cache-line misses in flight to stream from memory.
    // Measured on SmolLM2 decode, 1 thread, alternating builds at load ~5:
    // 32-36 tok/s with 2048 against 24-37 (median ~29) without.
    constexpr index_t prefetch_distance = 2048;
    if (t == ggml_type::q4_1) {
        for (index_t j = j0; j < j1; ++j) {
            const unsigned char* row = w + j * row_bytes;
            simd::vfloat acc[NR] = {};
            float mins[NR] = {};
            for (index_t k = 0; k < blocks; ++k) {
                const unsigned char* b = row + k * 20;
                __builtin_prefetch(b + prefetch_distance);
                const float d = half[load_u16(b)], m = half[load_u16(b + 2)];
                simd::vfloat s[NR] = {};
                for (int c = 0; c < 16; c += L) {
                    // Bytes c..c+L: low nibbles are elements c.., high nibbles 16 + c..
                    const simd::vint q = widen_u8(b + 4 + c);
                    const simd::vfloat lo = __builtin_convertvector(q & 15, simd::vfloat);
                    const simd::vfloat hi = __builtin_convertvector(q >> 4, simd::vfloat);
                    for (int r = 0; r < NR; ++r) {
                        const float* xb = x + r * cols + k * 32;
                        s[r] += lo * simd::load(xb + c);
                        s[r] += hi * simd::load(xb + 16 + c);
                    }
                }
                for (int r = 0; r < NR; ++r) {
                    acc[r] += d * s[r];
                    mins[r] += m * xsum[r * xsum_stride + k];
                }
            }
            for (int r = 0; r < NR; ++r) {
                const float v = simd::hsum(acc[r]) + mins[r];
                float& dst = y[r * y_stride + j];
                dst = accumulate ? dst + v : v;
            }
        }
        return;
    }
    if (t == ggml_type::q8_0) {
        for (index_t j = j0; j < j1; ++j) {
            const unsigned char* row = w + j * row_bytes;
            simd::vfloat acc[NR] = {};
            for (index_t k = 0; k < blocks; ++k) {
                const unsigned char* b = row + k * 34;
                __builtin_prefetch(b + prefetch_distance);
                const float d = half[load_u16(b)];
                simd::vfloat s[NR] = {};
                for (int c = 0; c < 32; c += L) {
                    const simd::vfloat q = __builtin_convertvector(widen_s8(b + 2 + c), simd::vfloat);
                    for (int r = 0; r < NR; ++r) s[r] += q * simd::load(x + r * cols + k * 32 + c);
                }
                for (int r = 0; r < NR; ++r) acc[r] += d * s[r];
            }
            for (int r = 0; r < NR; ++r) {
                const float v = simd::hsum(acc[r]);
                float& dst = y[r * y_stride + j];
                dst = accumulate ? dst + v : v;
            }
        }
        return;
    }
#else
    (void)xsum, (void)xsum_stride, (void)half;
#endif
    float buf[ggml_qk_k];
    const index_t be = tr.block_elements;
    for (index_t j = j0; j < j1; ++j) {
        const unsigned char* row = w + j * row_bytes;
        float acc[NR] = {};
        for (index_t k = 0; k < blocks; ++k) {
            dequantize_row(t, row + k * tr.block_bytes, buf, be);
            for (int r = 0; r < NR; ++r) {
                const float* xb = x + r * cols + k * be;
                float s = 0.0f;
                LETHE_SIMD_REDUCTION(+ : s)
                for (index_t e = 0; e < be; ++e) s += buf[e] * xb[e];
                acc[r] += s;
            }
        }
        for (int r = 0; r < NR; ++r) {
            float& dst = y[r * y_stride + j];
            dst = accumulate ? dst + acc[r] : acc[r];
        }
    }
}

}  // namespace detail

// Most inputs quantized_dot_rows takes at once (the model's small batch).
inline constexpr index_t quantized_dot_max_inputs = 4;

// xsum[k] = sum of x[32k .. 32k + 31], k < cols / 32: the per-input data of
// Q4_1's dot products (other types ignore it).
inline void quantized_block_sums(const float* x, index_t cols, float* xsum) noexcept {
    for (index_t k = 0; k < cols / 32; ++k) {
        float s = 0.0f;
        for (index_t j = 0; j < 32; ++j) s += x[k * 32 + j];
        xsum[k] = s;
    }
}

// y[r * y_stride + j] (=|+=) W[j, :] . x[r, :] for rows j in [j0, j1) of W (type t,
// row j at w + j * row_bytes, `cols` elements) and inputs r < n <= 4 (x + r * cols;
// xsum + r * xsum_stride from quantized_block_sums, needed for Q4_1). Host only,
// no checks (callers validate shapes): the inner kernel of quantized_matvec and
// of the model's quantised linear layers.
inline void quantized_dot_rows(ggml_type t, const unsigned char* w, index_t row_bytes, index_t cols, const float* x,
                               const float* xsum, index_t xsum_stride, index_t n, index_t j0, index_t j1, float* y,
                               index_t y_stride, bool accumulate) noexcept {
    const float* half = detail::half_table();
    switch (n) {
        case 1: detail::dot_rows_fixed<1>(t, w, row_bytes, cols, x, xsum, xsum_stride, j0, j1, y, y_stride, accumulate, half); break;
        case 2: detail::dot_rows_fixed<2>(t, w, row_bytes, cols, x, xsum, xsum_stride, j0, j1, y, y_stride, accumulate, half); break;
        case 3: detail::dot_rows_fixed<3>(t, w, row_bytes, cols, x, xsum, xsum_stride, j0, j1, y, y_stride, accumulate, half); break;
        default: detail::dot_rows_fixed<4>(t, w, row_bytes, cols, x, xsum, xsum_stride, j0, j1, y, y_stride, accumulate, half); break;
    }
}

// Floats of workspace quantized_matvec needs for `cols` columns.
constexpr index_t quantized_matvec_workspace(index_t cols) noexcept { return (cols + 31) / 32; }

// y[r] (=|+=) sum_i W[r, i] x[i], r < rows, for W stored as `rows` rows of
// `cols` elements of type t back to back (a GGUF tensor: rows = dims[1],
// cols = dims[0]). `xsum` holds quantized_matvec_workspace(cols) floats.
template <execution_policy P>
void quantized_matvec(const P& pol, ggml_type t, const void* w, index_t w_bytes, index_t rows, index_t cols,
                      const float* x, float* y, std::span<float> xsum, bool accumulate = false) {
    constexpr std::string_view where = "lethe::io::quantized_matvec";
    static_assert(runs_on_host_v<P>, "quantized_matvec: host policies only (the block sums are computed on the host)");
    const auto tr = ggml_traits(t);
    require(tr.block_bytes > 0, where, "unknown ggml type ", static_cast<std::uint32_t>(t));
    require(rows >= 0 && cols >= 0 && cols % tr.block_elements == 0, where, "shape ", rows, " x ", cols,
            ": columns must be a multiple of the ", tr.name, " block (", tr.block_elements, ")");
    const index_t row_bytes = ggml_row_bytes(t, cols);
    require(rows == 0 || w_bytes / rows >= row_bytes, where, "weights hold ", w_bytes, " bytes, ", rows, " rows of ",
            tr.name, " need ", rows * row_bytes);
    require(static_cast<index_t>(xsum.size()) >= quantized_matvec_workspace(cols), where, "workspace holds ",
            xsum.size(), " floats, needs ", quantized_matvec_workspace(cols));
    if (t == ggml_type::q4_1) quantized_block_sums(x, cols, xsum.data());
    const auto* base = static_cast<const unsigned char*>(w);
    const float* xs = xsum.data();
    constexpr index_t block = 32;  // rows per task
    pol.parallel_for((rows + block - 1) / block, [=](index_t b) {
        const index_t j1 = (b + 1) * block < rows ? (b + 1) * block : rows;
        quantized_dot_rows(t, base, row_bytes, cols, x, xs, 0, 1, b * block, j1, y, 0, accumulate);
    });
}

}  // namespace lethe::io

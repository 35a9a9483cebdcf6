// lethe/io/gguf_matvec.hpp - y = W x straight from a GGUF tensor's blocks.
//
// A decode step multiplies every weight matrix by one activation vector, so
// it is bound by reading W: 4 bytes per weight in fp32, 0.625 for Q4_1 and
// 1.0625 for Q8_0. This product reads the quantised blocks (no dequantised
// copy) and keeps x in fp32, unlike llama.cpp, which also rounds x to 8 bits
// per block; so its result is the fp32 product with the dequantised weights
// up to summation order. Per 32-element block b of a row:
//   Q4_1  sum_j (d q_j + m) x_j = d * sum_j q_j x_j + m * xsum_b
//   Q8_0  d * sum_j q_j x_j
//   other types: the block is dequantised into registers/stack, then dotted.
// xsum_b (the block sums of x) are computed once per call into a caller
// workspace, so the Q4_1 row loop does one multiply-add per weight.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "../core/config.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
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

// One row of `n` elements of type t dotted with x (xsum: block sums of x, 32 each).
// Q4_1/Q8_0 keep 16 partial sums across the blocks (one vector register) and
// reduce them once per row, not once per block.
inline float dot_row(ggml_type t, const unsigned char* row, const float* x, const float* xsum, index_t n,
                     const float* half) noexcept {
    const auto tr = ggml_traits(t);
    const index_t blocks = n / tr.block_elements;
    if (t == ggml_type::q4_1) {
        float acc[16] = {};
        float mins = 0.0f;
        for (index_t k = 0; k < blocks; ++k) {
            const unsigned char* b = row + k * 20;
            const float* xb = x + k * 32;
            const float d = half[load_u16(b)];
            mins += half[load_u16(b + 2)] * xsum[k];
            const unsigned char* qs = b + 4;
            LETHE_SIMD
            for (int j = 0; j < 16; ++j)
                acc[j] += d * (static_cast<float>(qs[j] & 0x0F) * xb[j] + static_cast<float>(qs[j] >> 4) * xb[j + 16]);
        }
        for (int j = 0; j < 16; ++j) mins += acc[j];
        return mins;
    }
    if (t == ggml_type::q8_0) {
        float acc[16] = {};
        for (index_t k = 0; k < blocks; ++k) {
            const unsigned char* b = row + k * 34;
            const float* xb = x + k * 32;
            const float d = half[load_u16(b)];
            const auto* qs = reinterpret_cast<const std::int8_t*>(b + 2);
            LETHE_SIMD
            for (int j = 0; j < 16; ++j)
                acc[j] += d * (static_cast<float>(qs[j]) * xb[j] + static_cast<float>(qs[j + 16]) * xb[j + 16]);
        }
        float s = 0.0f;
        for (int j = 0; j < 16; ++j) s += acc[j];
        return s;
    }
    float acc = 0.0f;
    // Generic: one block at a time through a stack buffer (at most 256 floats).
    float buf[ggml_qk_k];
    const index_t be = tr.block_elements;
    for (index_t k = 0; k < blocks; ++k) {
        dequantize_row(t, row + k * tr.block_bytes, buf, be);
        float s = 0.0f;
        LETHE_SIMD_REDUCTION(+ : s)
        for (index_t j = 0; j < be; ++j) s += buf[j] * x[k * be + j];
        acc += s;
    }
    return acc;
}

}  // namespace detail

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
    if (t == ggml_type::q4_1) {
        for (index_t k = 0; k < cols / 32; ++k) {
            float s = 0.0f;
            for (index_t j = 0; j < 32; ++j) s += x[k * 32 + j];
            xsum[static_cast<std::size_t>(k)] = s;
        }
    }
    const auto* base = static_cast<const unsigned char*>(w);
    const float* xs = xsum.data();
    const float* half = detail::half_table();
    pol.parallel_for(rows, [=](index_t r) {
        const float v = detail::dot_row(t, base + r * row_bytes, x, xs, cols, half);
        y[r] = accumulate ? y[r] + v : v;
    });
}

}  // namespace lethe::io

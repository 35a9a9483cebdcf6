// lethe/model/bf16_linear.hpp - linear layers whose weights are stored as
// bfloat16: y[n, out] (=|+=) x[n, in] W[out, in]^T with W in bf16 and x, y
// and all arithmetic in float.
//
// Why: decoding one token reads every weight once and does two FLOPs per
// weight, so at batch 1-2 a step costs the weight bytes over the memory
// bandwidth. bf16 halves those bytes. A bf16 value is the top 16 bits of a
// float, so widening is a zero-extension and a 16-bit shift, done in
// registers (this needs no AVX-512 BF16: plain AVX2 or SSE2 does it).
//
// Two kernels:
//  * bf16_gemv (n <= small_batch_rows): every weight row is read once and
//    dotted with all n inputs (the CFG pair shares the weight reads), rows
//    split over threads; several outputs (q|k|v, gate|up) in one parallel
//    region; bf16 pairs widened with a shift and a mask (no shuffles);
//  * bf16_gemm (any n, prefill): blocks of weight rows widened into a float
//    workspace, then Eigen's GEMM on the block.
// Every output element is summed by one thread in a fixed order: results do
// not depend on the thread count.
#pragma once

#include <Eigen/Core>
#include <array>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../core/config.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/simd.hpp"
#include "../io/float16.hpp"
#include "layers.hpp"

namespace lethe::model::kernels {

using bf16_t = std::uint16_t;  // bfloat16 bits (io::float_to_bf16 / io::bf16_to_float)

// One output of a fused bf16 linear: y[n, out] (=|+=) x W^T.
struct bf16_output {
    const bf16_t* w = nullptr;  // [out, in]
    float* y = nullptr;         // [n, out], row stride out
    index_t out = 0;
    bool accumulate = false;
};

namespace detail {

#if LETHE_HAS_VECTOR_EXT
// Pairs of bf16: 2 * lanes weights loaded as `lanes` 32-bit words, word k
// holding element 2k in its low half and 2k+1 in its high half (little
// endian). Shifting left by 16 gives the even elements as floats, masking
// the low half gives the odd ones: two ALU operations per 2 * lanes weights
// and no shuffles (zero-extending 16 -> 32 bits costs shuffle-port uops).
// The inputs are deinterleaved once per call to match (deinterleave_pairs).
inline constexpr index_t pair_width = 2 * simd::lanes;
typedef std::uint32_t vu32 __attribute__((vector_size(simd::lanes * 4)));
inline void load_bf16_pairs(const bf16_t* p, simd::vfloat& even, simd::vfloat& odd) noexcept {
    vu32 w;
    std::memcpy(&w, p, sizeof(w));
    even = std::bit_cast<simd::vfloat>(w << 16);
    odd = std::bit_cast<simd::vfloat>(w & 0xffff0000u);
}
#endif

// xd[r] = x[r] with every block of pair_width values reordered as
// [even elements, odd elements]; the tail past the last whole block is not
// written (the kernels read it from x).
inline void deinterleave_pairs(const float* x, float* xd, index_t n, index_t in) noexcept {
#if LETHE_HAS_VECTOR_EXT
    const index_t whole = in / pair_width * pair_width, half = pair_width / 2;
    for (index_t r = 0; r < n; ++r)
        for (index_t c = 0; c < whole; c += pair_width)
            for (index_t k = 0; k < half; ++k) {
                xd[r * in + c + k] = x[r * in + c + 2 * k];
                xd[r * in + c + half + k] = x[r * in + c + 2 * k + 1];
            }
#else
    (void)x, (void)xd, (void)n, (void)in;
#endif
}

// y rows [j0, j1) of one output for NR inputs; R weight rows at a time so
// every x load serves R rows and R*NR accumulators hide the FMA latency.
// x: the inputs, xd: the same deinterleaved.
template <int NR>
inline void bf16_gemv_rows(const float* LETHE_RESTRICT x, const float* LETHE_RESTRICT xd, index_t in,
                           const bf16_output& o, index_t j0, index_t j1) noexcept {
    [[maybe_unused]] constexpr int R = NR <= 2 ? 4 : 2;  // unused where the vector loop is compiled out (nvcc)
    index_t j = j0;
    index_t whole = 0;  // elements done by the vector loop
#if LETHE_HAS_VECTOR_EXT
    whole = in / pair_width * pair_width;
    for (; j + R <= j1; j += R) {
        simd::vfloat acc[R][NR] = {};
        const bf16_t* w = o.w + j * in;
        for (index_t c = 0; c < whole; c += pair_width) {
            simd::vfloat xe[NR], xo[NR];
            for (int r = 0; r < NR; ++r) {
                xe[r] = simd::load(xd + r * in + c);
                xo[r] = simd::load(xd + r * in + c + simd::lanes);
            }
            for (int k = 0; k < R; ++k) {
                simd::vfloat we, wo;
                load_bf16_pairs(w + k * in + c, we, wo);
                for (int r = 0; r < NR; ++r) {
                    acc[k][r] += we * xe[r];  // two FMAs
                    acc[k][r] += wo * xo[r];
                }
            }
        }
        for (int k = 0; k < R; ++k)
            for (int r = 0; r < NR; ++r) {
                float s = simd::hsum(acc[k][r]);
                for (index_t c = whole; c < in; ++c) s += io::bf16_to_float(w[k * in + c]) * x[r * in + c];
                float& dst = o.y[r * o.out + j + k];
                dst = o.accumulate ? dst + s : s;
            }
    }
#endif
    // Rows left over by the groups of R: the same order of sums as above.
    for (; j < j1; ++j) {
        const bf16_t* w = o.w + j * in;
        for (int r = 0; r < NR; ++r) {
            float s = 0.0f;
#if LETHE_HAS_VECTOR_EXT
            simd::vfloat acc{};
            for (index_t c = 0; c < whole; c += pair_width) {
                simd::vfloat we, wo;
                load_bf16_pairs(w + c, we, wo);
                acc += we * simd::load(xd + r * in + c);
                acc += wo * simd::load(xd + r * in + c + simd::lanes);
            }
            s = simd::hsum(acc);
#endif
            for (index_t c = whole; c < in; ++c) s += io::bf16_to_float(w[c]) * x[r * in + c];
            float& dst = o.y[r * o.out + j];
            dst = o.accumulate ? dst + s : s;
        }
    }
}

inline void bf16_gemv_dispatch(const float* x, const float* xd, index_t n, index_t in, const bf16_output& o,
                               index_t j0, index_t j1) noexcept {
    switch (n) {
        case 1: bf16_gemv_rows<1>(x, xd, in, o, j0, j1); break;
        case 2: bf16_gemv_rows<2>(x, xd, in, o, j0, j1); break;
        case 3: bf16_gemv_rows<3>(x, xd, in, o, j0, j1); break;
        default: bf16_gemv_rows<4>(x, xd, in, o, j0, j1); break;
    }
}

}  // namespace detail

// Weight rows per task of bf16_gemv: 32 rows of 768-2048 bf16 are 48-128 KB,
// enough to amortise the scheduling and small enough to balance two threads.
inline constexpr index_t bf16_gemv_block = 32;

// outputs[i].y (=|+=) x[n, in] outputs[i].w^T for every output, n <= small_batch_rows,
// in one parallel region over blocks of weight rows. `workspace` (grown to
// n * in floats) holds the deinterleaved inputs.
template <execution_policy P, std::size_t K>
void bf16_gemv(const P& pol, const float* x, index_t n, index_t in, const std::array<bf16_output, K>& outputs,
               std::vector<float>& workspace) {
    require(n >= 1 && n <= small_batch_rows, "bf16_gemv", "n must be in [1, ", small_batch_rows, "], got ", n);
    if (workspace.size() < std::size_t(n * in)) workspace.resize(std::size_t(n * in));
    float* xd = workspace.data();
    detail::deinterleave_pairs(x, xd, n, in);
    std::array<index_t, K + 1> first{};  // first block of each output
    for (std::size_t i = 0; i < K; ++i)
        first[i + 1] = first[i] + (outputs[i].out + bf16_gemv_block - 1) / bf16_gemv_block;
    const auto outs = outputs;
    for_rows(pol, first[K], bf16_gemv_block * n * in, [=](index_t b) {
        std::size_t i = 0;
        while (b >= first[i + 1]) ++i;
        const bf16_output& o = outs[i];
        const index_t j0 = (b - first[i]) * bf16_gemv_block;
        const index_t j1 = j0 + bf16_gemv_block < o.out ? j0 + bf16_gemv_block : o.out;
        detail::bf16_gemv_dispatch(x, xd, n, in, o, j0, j1);
    });
}

// Weight rows widened per Eigen GEMM in bf16_gemm.
inline constexpr index_t bf16_gemm_block = 256;

// o.y (=|+=) x[n, in] o.w^T for any n: each block of bf16_gemm_block weight
// rows is widened into `workspace` (grown to bf16_gemm_block * in floats),
// then multiplied by Eigen (whose threads follow Eigen::setNbThreads).
// n <= small_batch_rows goes to bf16_gemv.
template <execution_policy P>
void bf16_gemm(const P& pol, const float* x, index_t n, index_t in, const bf16_output& o,
               std::vector<float>& workspace) {
    if (n <= small_batch_rows) {
        bf16_gemv(pol, x, n, in, std::array<bf16_output, 1>{o}, workspace);
        return;
    }
    const std::size_t need = std::size_t(bf16_gemm_block * in);
    if (workspace.size() < need) workspace.resize(need);
    using stride_map = Eigen::Map<matrix_rm<float>, Eigen::Unaligned, Eigen::OuterStride<>>;
    pin_eigen_gemm_blocking();
    cmap_rm<float> X(x, n, in);
    for (index_t j0 = 0; j0 < o.out; j0 += bf16_gemm_block) {
        const index_t rows = o.out - j0 < bf16_gemm_block ? o.out - j0 : bf16_gemm_block;
        float* wf = workspace.data();
        const bf16_t* wb = o.w + j0 * in;
        for_rows(pol, rows, in, [=](index_t r) {
            for (index_t c = 0; c < in; ++c) wf[r * in + c] = io::bf16_to_float(wb[r * in + c]);
        });
        cmap_rm<float> W(wf, rows, in);
        stride_map Y(o.y + j0, n, rows, Eigen::OuterStride<>(o.out));
        if (o.accumulate)
            Y.noalias() += X * W.transpose();
        else
            Y.noalias() = X * W.transpose();
    }
}

// Rounds src[0, n) to bf16 (nearest, ties to even) into dst.
template <execution_policy P>
void round_to_bf16(const P& pol, const float* src, bf16_t* dst, index_t n) {
    constexpr index_t block = 4096;
    for_rows(pol, (n + block - 1) / block, block, [=](index_t b) {
        const index_t hi = (b + 1) * block < n ? (b + 1) * block : n;
        for (index_t i = b * block; i < hi; ++i) dst[i] = io::float_to_bf16(src[i]);
    });
}

}  // namespace lethe::model::kernels

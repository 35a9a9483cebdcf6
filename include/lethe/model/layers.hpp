// lethe/model/layers.hpp - the per-layer kernels of a Llama block, forward
// and backward, on dense row-major host buffers.
//
// Each function works on N packed token rows and runs its rows through an
// execution policy. Formulas (Touvron et al. 2023, Llama; Hugging Face
// modeling_llama.py conventions):
//   RMSNorm  y = x * r * w,  r = 1 / sqrt(mean(x^2) + eps)        (Zhang & Sennrich 2019)
//   RoPE     (a, b) -> (a cos - b sin, b cos + a sin) on the pairs (i, i + hd/2),
//            angle = pos * theta^(-2i/hd)                             (Su et al. 2021, "rotate_half")
//   SwiGLU   h = silu(g) * u, silu(g) = g * sigmoid(g)                (Shazeer 2020)
//   linear   y = x W^T with W [out, in] as stored by PyTorch nn.Linear
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <vector>

#include "../backend/eigen.hpp"
#include "../core/config.hpp"
#include "../core/execution.hpp"

namespace lethe::model::kernels {

template <class T>
using matrix_rm = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using map_rm = Eigen::Map<matrix_rm<T>>;
template <class T>
using cmap_rm = Eigen::Map<const matrix_rm<T>>;

template <class T>
inline T dot(const T* LETHE_RESTRICT a, const T* LETHE_RESTRICT b, index_t n) noexcept {
    T acc = T(0);
    LETHE_SIMD_REDUCTION(+ : acc)
    for (index_t i = 0; i < n; ++i) acc += a[i] * b[i];
    return acc;
}

// Runs f(i) for i in [0, n) through the policy only when the loop carries
// enough work (n * cost_per_row multiply-adds) to pay for waking threads;
// tiny models would otherwise spend their time in fork/join.
inline constexpr index_t parallel_min_work = index_t(1) << 15;
template <execution_policy P, class F>
void for_rows(const P& pol, index_t n, index_t cost_per_row, F&& f) {
    if (n * cost_per_row < parallel_min_work) {
        for (index_t i = 0; i < n; ++i) f(i);
    } else {
        pol.parallel_for(n, f);
    }
}

// Rows at or below this count take the weight-streaming kernel (decode):
// Eigen's GEMV is single-threaded and reads W once per row.
inline constexpr index_t small_batch_rows = 4;

// y[N, out] (=|+=) x[N, in] W[out, in]^T.
template <class T, execution_policy P>
void linear_forward(const P& pol, const T* x, const T* w, T* y, index_t n, index_t in, index_t out,
                    bool accumulate = false) {
    if (n <= small_batch_rows) {
        // Every weight row is read once and dotted with all n inputs: the
        // decode step is bound by reading W, so batch 2 costs about batch 1.
        constexpr index_t block = 64;
        for_rows(pol, (out + block - 1) / block, block * n * in, [=](index_t b) {
            const index_t hi = (b + 1) * block < out ? (b + 1) * block : out;
            for (index_t j = b * block; j < hi; ++j)
                for (index_t r = 0; r < n; ++r) {
                    const T s = dot(x + r * in, w + j * in, in);
                    y[r * out + j] = accumulate ? y[r * out + j] + s : s;
                }
        });
        return;
    }
    pin_eigen_gemm_blocking();
    cmap_rm<T> X(x, n, in), W(w, out, in);
    map_rm<T> Y(y, n, out);
    if (accumulate)
        Y.noalias() += X * W.transpose();
    else
        Y.noalias() = X * W.transpose();
}

// dx[N, in] (=|+=) dy[N, out] W[out, in].
template <class T>
void linear_backward_input(const T* dy, const T* w, T* dx, index_t n, index_t in, index_t out, bool accumulate) {
    pin_eigen_gemm_blocking();
    cmap_rm<T> DY(dy, n, out), W(w, out, in);
    map_rm<T> DX(dx, n, in);
    if (accumulate)
        DX.noalias() += DY * W;
    else
        DX.noalias() = DY * W;
}

// dW[out, in] += dy[N, out]^T x[N, in].
template <class T>
void linear_backward_weight(const T* dy, const T* x, T* dw, index_t n, index_t in, index_t out) {
    pin_eigen_gemm_blocking();
    cmap_rm<T> DY(dy, n, out), X(x, n, in);
    map_rm<T> DW(dw, out, in);
    DW.noalias() += DY.transpose() * X;
}

// y = x * r * w per row; r[n] saved for the backward pass.
template <class T, execution_policy P>
void rmsnorm_forward(const P& pol, const T* x, const T* w, T* y, T* rstd, index_t n, index_t d, T eps) {
    for_rows(pol, n, d, [=](index_t i) {
        const T* xi = x + i * d;
        T* yi = y + i * d;
        const T r = T(1) / std::sqrt(dot(xi, xi, d) / T(d) + eps);
        if (rstd) rstd[i] = r;
        LETHE_SIMD
        for (index_t j = 0; j < d; ++j) yi[j] = xi[j] * r * w[j];
    });
}

// dx (=|+=) r * (dy * w) - x * r^3 / d * sum(dy * w * x); dw += sum_rows dy * x * r.
// dw is reduced over rows in a fixed order (sequential) for determinism.
template <class T, execution_policy P>
void rmsnorm_backward(const P& pol, const T* x, const T* w, const T* rstd, const T* dy, T* dx, T* dw, index_t n,
                      index_t d, bool accumulate) {
    for_rows(pol, n, 2 * d, [=](index_t i) {
        const T* xi = x + i * d;
        const T* dyi = dy + i * d;
        T* dxi = dx + i * d;
        const T r = rstd[i];
        T s = T(0);
        LETHE_SIMD_REDUCTION(+ : s)
        for (index_t j = 0; j < d; ++j) s += dyi[j] * w[j] * xi[j];
        const T c = s * r * r * r / T(d);
        if (accumulate) {
            LETHE_SIMD
            for (index_t j = 0; j < d; ++j) dxi[j] += r * dyi[j] * w[j] - xi[j] * c;
        } else {
            LETHE_SIMD
            for (index_t j = 0; j < d; ++j) dxi[j] = r * dyi[j] * w[j] - xi[j] * c;
        }
    });
    // Column-parallel so each dw[j] is summed over rows in row order.
    constexpr index_t block = 64;
    for_rows(pol, (d + block - 1) / block, block * n, [=](index_t b) {
        const index_t hi = (b + 1) * block < d ? (b + 1) * block : d;
        for (index_t i = 0; i < n; ++i) {
            const T r = rstd[i];
            for (index_t j = b * block; j < hi; ++j) dw[j] += dy[i * d + j] * x[i * d + j] * r;
        }
    });
}

// cos/sin of pos * theta^(-2i/hd), [max_seq, hd/2], computed in double.
template <class T>
struct rope_table {
    index_t half = 0;
    std::vector<T> cos_, sin_;
    rope_table() = default;
    rope_table(index_t max_seq, index_t head_dim, double theta) : half(head_dim / 2) {
        cos_.resize(static_cast<std::size_t>(max_seq * half));
        sin_.resize(cos_.size());
        for (index_t p = 0; p < max_seq; ++p)
            for (index_t i = 0; i < half; ++i) {
                const double inv_freq = std::pow(theta, -2.0 * double(i) / double(head_dim));
                const double a = double(p) * inv_freq;
                cos_[static_cast<std::size_t>(p * half + i)] = T(std::cos(a));
                sin_[static_cast<std::size_t>(p * half + i)] = T(std::sin(a));
            }
    }
    const T* cos_at(index_t pos) const noexcept { return cos_.data() + pos * half; }
    const T* sin_at(index_t pos) const noexcept { return sin_.data() + pos * half; }
};

// Rotates every head of one row in place; `inverse` applies R^T (backward).
template <class T>
inline void rope_row(T* row, index_t heads, index_t hd, const T* c, const T* s, bool inverse) noexcept {
    const index_t half = hd / 2;
    const T sign = inverse ? T(-1) : T(1);
    for (index_t h = 0; h < heads; ++h) {
        T* a = row + h * hd;
        T* b = a + half;
        LETHE_SIMD
        for (index_t i = 0; i < half; ++i) {
            const T ai = a[i], bi = b[i], si = sign * s[i];
            a[i] = ai * c[i] - bi * si;
            b[i] = bi * c[i] + ai * si;
        }
    }
}

template <class T>
inline T silu(T g) noexcept {
    return g / (T(1) + std::exp(-g));
}

// h = silu(g) * u.
template <class T, execution_policy P>
void swiglu_forward(const P& pol, const T* g, const T* u, T* h, index_t n, index_t f) {
    for_rows(pol, n, 8 * f, [=](index_t i) {
        for (index_t j = i * f; j < (i + 1) * f; ++j) h[j] = silu(g[j]) * u[j];
    });
}

// dg = dh * u * silu'(g), silu'(g) = s (1 + g (1 - s)); du = dh * silu(g).
template <class T, execution_policy P>
void swiglu_backward(const P& pol, const T* g, const T* u, const T* dh, T* dg, T* du, index_t n, index_t f) {
    for_rows(pol, n, 8 * f, [=](index_t i) {
        for (index_t j = i * f; j < (i + 1) * f; ++j) {
            const T s = T(1) / (T(1) + std::exp(-g[j]));
            dg[j] = dh[j] * u[j] * s * (T(1) + g[j] * (T(1) - s));
            du[j] = dh[j] * g[j] * s;
        }
    });
}

}  // namespace lethe::model::kernels

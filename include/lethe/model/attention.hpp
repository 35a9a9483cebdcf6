// lethe/model/attention.hpp - causal scaled-dot-product attention of one
// (sequence, head) for training, forward and backward, as matrix products.
//
// Rows of Q, K, V, O and their gradients live inside the model's [N, q_dim]
// and [N, kv_dim] activations, so each head is a strided [S, hd] slice. The
// probabilities P [S, S] are saved by the forward for the backward; only
// their lower triangle (j <= i) is meaningful and the upper one is zero.
//
// Forward (Vaswani et al. 2017, "Attention is all you need", eq. 1, with
// the causal mask):
//   P = softmax_j<=i(scale * Q K^T),  O = P V
// Backward (the softmax Jacobian row by row):
//   dV += P^T dO,  dP = dO V^T,  dS_ij = scale * P_ij (dP_ij - sum_k P_ik dP_ik)
//   dQ  = dS K,    dK += dS^T Q
// Written as triangular products (Eigen's TRMM and triangular-result GEMM)
// rather than per-(i, j) dot products: with small heads (hd = 16 in the
// demo's model) the dot-product loops spent their time in horizontal sums.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "../core/config.hpp"
#include "../core/numerics.hpp"
#include "layers.hpp"

namespace lethe::model::kernels {

// One head's rows: [rows, hd] with a row stride of the whole activation.
template <class T>
using head_rows = Eigen::Map<matrix_rm<T>, 0, Eigen::OuterStride<>>;
template <class T>
using const_head_rows = Eigen::Map<const matrix_rm<T>, 0, Eigen::OuterStride<>>;

// The strided slices of one head, S rows each. q, o: stride q_stride; k, v:
// stride kv_stride (grouped-query attention shares them across heads).
template <class T>
struct attention_head {
    index_t seq, head_dim, q_stride, kv_stride;
    T scale;  // 1 / sqrt(head_dim)
};

// P (caller's [S, S], row-major) and O for one head.
template <class T>
void attention_head_forward(const attention_head<T>& a, const T* q, const T* k, const T* v, T* p, T* o) {
    pin_eigen_gemm_blocking();
    const index_t S = a.seq, hd = a.head_dim;
    const_head_rows<T> Q(q, S, hd, Eigen::OuterStride<>(a.q_stride));
    const_head_rows<T> K(k, S, hd, Eigen::OuterStride<>(a.kv_stride));
    const_head_rows<T> V(v, S, hd, Eigen::OuterStride<>(a.kv_stride));
    head_rows<T> O(o, S, hd, Eigen::OuterStride<>(a.q_stride));
    map_rm<T> P(p, S, S);
    P.template triangularView<Eigen::Lower>() = Q * K.transpose();
    for (index_t i = 0; i < S; ++i) {
        T* row = p + i * S;
        T m = row[0] * a.scale;
        for (index_t j = 0; j <= i; ++j) {
            row[j] *= a.scale;
            m = row[j] > m ? row[j] : m;
        }
        T s = T(0);
        LETHE_SIMD_REDUCTION(+ : s)
        for (index_t j = 0; j <= i; ++j) {
            row[j] = exp_fast(row[j] - m);  // vectorised; 2e-7 relative (core/numerics.hpp)
            s += row[j];
        }
        const T inv = T(1) / s;
        LETHE_SIMD
        for (index_t j = 0; j <= i; ++j) row[j] *= inv;
        std::fill(row + i + 1, row + S, T(0));
    }
    O.noalias() = P.template triangularView<Eigen::Lower>() * V;
}

// Gradients of one head: dq written, dk and dv accumulated (the heads of a
// key/value group add into the same rows). ds is an [S, S] scratch.
template <class T>
void attention_head_backward(const attention_head<T>& a, const T* q, const T* k, const T* v, const T* p,
                             const T* d_o, T* dq, T* dk, T* dv, T* ds) {
    pin_eigen_gemm_blocking();
    const index_t S = a.seq, hd = a.head_dim;
    const_head_rows<T> Q(q, S, hd, Eigen::OuterStride<>(a.q_stride));
    const_head_rows<T> K(k, S, hd, Eigen::OuterStride<>(a.kv_stride));
    const_head_rows<T> V(v, S, hd, Eigen::OuterStride<>(a.kv_stride));
    const_head_rows<T> dO(d_o, S, hd, Eigen::OuterStride<>(a.q_stride));
    head_rows<T> dQ(dq, S, hd, Eigen::OuterStride<>(a.q_stride));
    head_rows<T> dK(dk, S, hd, Eigen::OuterStride<>(a.kv_stride));
    head_rows<T> dV(dv, S, hd, Eigen::OuterStride<>(a.kv_stride));
    cmap_rm<T> P(p, S, S);
    map_rm<T> dS(ds, S, S);
    dV.noalias() += P.transpose().template triangularView<Eigen::Upper>() * dO;
    dS.template triangularView<Eigen::Lower>() = dO * V.transpose();  // dP
    for (index_t i = 0; i < S; ++i) {
        const T* pi = p + i * S;
        T* di = ds + i * S;
        T r = T(0);
        LETHE_SIMD_REDUCTION(+ : r)
        for (index_t j = 0; j <= i; ++j) r += pi[j] * di[j];
        LETHE_SIMD
        for (index_t j = 0; j <= i; ++j) di[j] = a.scale * pi[j] * (di[j] - r);
    }
    dQ.noalias() = dS.template triangularView<Eigen::Lower>() * K;
    dK.noalias() += dS.transpose().template triangularView<Eigen::Upper>() * Q;
}

}  // namespace lethe::model::kernels

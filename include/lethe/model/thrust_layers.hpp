// lethe/model/thrust_layers.hpp - the elementwise and reduction kernels of a
// Llama block, written once for every execution policy.
//
// Each kernel is a `pol.parallel_for` over a LETHE_HD lambda, so the same
// code runs on thrust's CPP/OMP systems (host memory) and on its CUDA system
// (device memory). The GEMMs are not here: the model hands them to a GEMM
// dispatch (thrust_host_gemm.hpp for host memory, backend/cublas.hpp for CUDA).
// Pointers must live in the policy's memory space. Work is split per element
// where it can be (a GPU needs thousands of threads even when decoding one
// token) and per row only for row reductions. No exceptions, no allocation.
//
// Formulas as in layers.hpp (Llama, Touvron et al. 2023; Hugging Face
// modeling_llama.py): RMSNorm y = x r w, r = 1/sqrt(mean(x^2) + eps);
// RoPE (a, b) -> (a cos - b sin, b cos + a sin) on pairs (i, i + hd/2);
// SwiGLU h = silu(g) u; attention softmax(q k^T / sqrt(hd)) v, causal.
//
// Attention addressing, shared by the KV-cache path and the training path:
// query row r (one token) attends to key rows kbase[r] + koff + j for
// j = 0..pos[r] in a key buffer of rows of n_kv_heads * hd values. With the
// cache, kbase[r] = slot * n_layers * max_seq and koff = layer * max_seq; in
// training, kbase[r] = first row of r's sequence and koff = 0.
#pragma once

#include <cmath>

#include "../core/causal_lm.hpp"
#include "../core/config.hpp"
#include "../core/execution.hpp"
#include "random.hpp"

namespace lethe::model::thrust_kernels {

// dst[i] = src[i], i < count.
template <execution_policy P, class T>
void copy(const P& pol, const T* src, T* dst, index_t count) {
    pol.parallel_for(count, [=] LETHE_HD(index_t i) { dst[i] = src[i]; });
}

// dst[i] = value, i < count.
template <execution_policy P, class T>
void fill(const P& pol, T* dst, index_t count, T value) {
    pol.parallel_for(count, [=] LETHE_HD(index_t i) { dst[i] = value; });
}

// dst[i] += src[i]: the residual additions the GEMM does not fold in.
template <execution_policy P, class T>
void add_inplace(const P& pol, const T* src, T* dst, index_t count) {
    pol.parallel_for(count, [=] LETHE_HD(index_t i) { dst[i] += src[i]; });
}

// x[i] *= factor: the LoRA scaling s = alpha / r on the rank-r activations.
template <execution_policy P, class T>
void scale(const P& pol, T* x, index_t count, T factor) {
    pol.parallel_for(count, [=] LETHE_HD(index_t i) { x[i] *= factor; });
}

// dst[i] = factor * src[i]: s B (or -s B) for merging adapters into weights.
template <execution_policy P, class T>
void scaled_copy(const P& pol, const T* src, T* dst, index_t count, T factor) {
    pol.parallel_for(count, [=] LETHE_HD(index_t i) { dst[i] = factor * src[i]; });
}

// Inverted dropout on the input of base tensor `tensor`'s adapter, with the
// CPU model's masks (lora_dropout_mask, random.hpp): kept values are scaled
// by inv = 1 / (1 - p). dst = mask(src), or dst += mask(src) when accumulate
// (the backward's dx). src may be dst.
template <execution_policy P, class T>
void lora_dropout(const P& pol, const T* src, T* dst, index_t count, index_t tensor, std::uint64_t step, double p,
                  T inv, bool accumulate) {
    const lora_dropout_mask mask(step, std::uint64_t(tensor), p);
    pol.parallel_for(count, [=] LETHE_HD(index_t i) {
        const T v = mask.keeps(std::uint64_t(i)) ? src[i] * inv : T(0);
        dst[i] = accumulate ? dst[i] + v : v;
    });
}

// x[r, :] = E[tok[r], :] (ids validated on the host before).
template <execution_policy P, class T>
void embed(const P& pol, const T* E, const token_id* tok, T* x, index_t n, index_t d) {
    pol.parallel_for(n * d, [=] LETHE_HD(index_t i) {
        const index_t r = i / d;
        x[i] = E[index_t(tok[r]) * d + (i - r * d)];
    });
}

// out[r, :] = x[rows[r], :]: the positions whose logits are asked for.
template <execution_policy P, class T>
void gather_rows(const P& pol, const T* x, const index_t* rows, T* out, index_t n, index_t d) {
    pol.parallel_for(n * d, [=] LETHE_HD(index_t i) {
        const index_t r = i / d;
        out[i] = x[rows[r] * d + (i - r * d)];
    });
}

// rstd[r] = 1 / sqrt(mean(x[r]^2) + eps), then y = x * rstd * w (y may be x).
template <execution_policy P, class T>
void rmsnorm(const P& pol, const T* x, const T* w, T* y, T* rstd, index_t n, index_t d, T eps) {
    pol.parallel_for(n, [=] LETHE_HD(index_t r) {
        const T* xr = x + r * d;
        T s = T(0);
        for (index_t j = 0; j < d; ++j) s += xr[j] * xr[j];
        rstd[r] = T(1) / std::sqrt(s / T(d) + eps);
    });
    pol.parallel_for(n * d, [=] LETHE_HD(index_t i) {
        const index_t r = i / d;
        y[i] = x[i] * rstd[r] * w[i - r * d];
    });
}

// Rotates `heads` heads of hd values per row at position pos[r];
// cos/sin tables are [max_seq, hd/2]. `inverse` applies R^T (backward).
template <execution_policy P, class T>
void rope(const P& pol, T* x, const index_t* pos, const T* cos_table, const T* sin_table, index_t n, index_t heads,
          index_t hd, bool inverse) {
    const index_t half = hd / 2, per_row = heads * half;
    const T sign = inverse ? T(-1) : T(1);
    pol.parallel_for(n * per_row, [=] LETHE_HD(index_t i) {
        const index_t r = i / per_row, rem = i - r * per_row, h = rem / half, k = rem - h * half;
        T* a = x + r * heads * hd + h * hd;
        const T c = cos_table[pos[r] * half + k], s = sign * sin_table[pos[r] * half + k];
        const T ak = a[k], bk = a[k + half];
        a[k] = ak * c - bk * s;
        a[k + half] = bk * c + ak * s;
    });
}

// Writes the new keys and values of n rows into the cache at their positions.
template <execution_policy P, class T>
void store_kv(const P& pol, const T* k, const T* v, T* kcache, T* vcache, const index_t* kbase, index_t koff,
              const index_t* pos, index_t n, index_t kvd) {
    pol.parallel_for(n * kvd, [=] LETHE_HD(index_t i) {
        const index_t r = i / kvd, c = i - r * kvd;
        const index_t at = (kbase[r] + koff + pos[r]) * kvd + c;
        kcache[at] = k[i];
        vcache[at] = v[i];
    });
}

// att[r, h, j] = scale * q[r, h] . key[j, h / group] for j <= pos[r], 0 after.
// att is [n, heads, span] with span > max(pos).
template <execution_policy P, class T>
void attention_scores(const P& pol, const T* q, const T* keys, T* att, const index_t* kbase, index_t koff,
                      const index_t* pos, index_t n, index_t heads, index_t kv_heads, index_t hd, index_t span,
                      T scale) {
    const index_t group = heads / kv_heads, kvd = kv_heads * hd;
    pol.parallel_for(n * heads * span, [=] LETHE_HD(index_t i) {
        const index_t rh = i / span, j = i - rh * span, r = rh / heads, h = rh - r * heads;
        if (j > pos[r]) {
            att[i] = T(0);
            return;
        }
        const T* qi = q + r * heads * hd + h * hd;
        const T* kj = keys + (kbase[r] + koff + j) * kvd + (h / group) * hd;
        T s = T(0);
        for (index_t c = 0; c < hd; ++c) s += qi[c] * kj[c];
        att[i] = scale * s;
    });
}

// Softmax over att[r, h, 0..pos[r]] in place (the causal mask).
template <execution_policy P, class T>
void attention_softmax(const P& pol, T* att, const index_t* pos, index_t n, index_t heads, index_t span) {
    pol.parallel_for(n * heads, [=] LETHE_HD(index_t rh) {
        T* p = att + rh * span;
        const index_t len = pos[rh / heads] + 1;
        T m = p[0];
        for (index_t j = 1; j < len; ++j) m = p[j] > m ? p[j] : m;
        T s = T(0);
        for (index_t j = 0; j < len; ++j) {
            p[j] = std::exp(p[j] - m);
            s += p[j];
        }
        const T inv = T(1) / s;
        for (index_t j = 0; j < len; ++j) p[j] *= inv;
    });
}

// o[r, h, c] = sum_{j <= pos[r]} att[r, h, j] value[j, h / group, c].
template <execution_policy P, class T>
void attention_values(const P& pol, const T* att, const T* values, T* o, const index_t* kbase, index_t koff,
                      const index_t* pos, index_t n, index_t heads, index_t kv_heads, index_t hd, index_t span) {
    const index_t group = heads / kv_heads, kvd = kv_heads * hd, qd = heads * hd;
    pol.parallel_for(n * qd, [=] LETHE_HD(index_t i) {
        const index_t r = i / qd, rem = i - r * qd, h = rem / hd, c = rem - h * hd;
        const T* p = att + (r * heads + h) * span;
        const T* vc = values + (kbase[r] + koff) * kvd + (h / group) * hd + c;
        T acc = T(0);
        for (index_t j = 0; j <= pos[r]; ++j) acc += p[j] * vc[j * kvd];
        o[i] = acc;
    });
}

// h = silu(g) * u, silu(g) = g / (1 + e^-g) (h may alias g).
template <execution_policy P, class T>
void swiglu(const P& pol, const T* g, const T* u, T* h, index_t count) {
    pol.parallel_for(count, [=] LETHE_HD(index_t i) { h[i] = g[i] / (T(1) + std::exp(-g[i])) * u[i]; });
}


// ------------------------------------------------------------- backward
// The training layout only: query row r is position pos[r] of a sequence of
// `seq` rows starting at row kbase[r] (koff = 0); the same rows hold its keys.

// dx (=|+=) r (dy w) - x c,  c = r^3 / d * sum(dy w x)  (per row; c goes to
// `row_tmp` [n]); dw += sum over rows of dy x r, one column per thread,
// summed in row order (deterministic); dw == nullptr skips it (frozen norm
// weights under LoRA).
template <execution_policy P, class T>
void rmsnorm_backward(const P& pol, const T* x, const T* w, const T* rstd, const T* dy, T* dx, T* dw, T* row_tmp,
                      index_t n, index_t d, bool accumulate) {
    pol.parallel_for(n, [=] LETHE_HD(index_t r) {
        const T *xr = x + r * d, *dyr = dy + r * d;
        T s = T(0);
        for (index_t j = 0; j < d; ++j) s += dyr[j] * w[j] * xr[j];
        row_tmp[r] = s * rstd[r] * rstd[r] * rstd[r] / T(d);
    });
    pol.parallel_for(n * d, [=] LETHE_HD(index_t i) {
        const index_t r = i / d;
        const T v = rstd[r] * dy[i] * w[i - r * d] - x[i] * row_tmp[r];
        dx[i] = accumulate ? dx[i] + v : v;
    });
    if (dw == nullptr) return;
    pol.parallel_for(d, [=] LETHE_HD(index_t j) {
        T acc = T(0);
        for (index_t r = 0; r < n; ++r) acc += dy[r * d + j] * x[r * d + j] * rstd[r];
        dw[j] += acc;
    });
}

// dg = dh u silu'(g), silu'(g) = s (1 + g (1 - s)), s = sigmoid(g); du = dh silu(g).
template <execution_policy P, class T>
void swiglu_backward(const P& pol, const T* g, const T* u, const T* dh, T* dg, T* du, index_t count) {
    pol.parallel_for(count, [=] LETHE_HD(index_t i) {
        const T s = T(1) / (T(1) + std::exp(-g[i]));
        dg[i] = dh[i] * u[i] * s * (T(1) + g[i] * (T(1) - s));
        du[i] = dh[i] * g[i] * s;
    });
}

// Softmax backward into ds [n, heads, span] (span = seq):
//   dP_j = do_r . v_j,  dS_j = scale P_j (dP_j - sum_k P_k dP_k).
template <execution_policy P, class T>
void attention_backward_scores(const P& pol, const T* att, const T* dout, const T* values, T* ds,
                               const index_t* kbase, const index_t* pos, index_t n, index_t heads,
                               index_t kv_heads, index_t hd, index_t span, T scale) {
    const index_t group = heads / kv_heads, kvd = kv_heads * hd, qd = heads * hd;
    pol.parallel_for(n * heads * span, [=] LETHE_HD(index_t i) {
        const index_t rh = i / span, j = i - rh * span, r = rh / heads, h = rh - r * heads;
        if (j > pos[r]) {
            ds[i] = T(0);
            return;
        }
        const T* dor = dout + r * qd + h * hd;
        const T* vj = values + (kbase[r] + j) * kvd + (h / group) * hd;
        T s = T(0);
        for (index_t c = 0; c < hd; ++c) s += dor[c] * vj[c];
        ds[i] = s;
    });
    pol.parallel_for(n * heads, [=] LETHE_HD(index_t rh) {
        const T* p = att + rh * span;
        T* q = ds + rh * span;
        const index_t len = pos[rh / heads] + 1;
        T pdp = T(0);
        for (index_t j = 0; j < len; ++j) pdp += p[j] * q[j];
        for (index_t j = 0; j < len; ++j) q[j] = scale * p[j] * (q[j] - pdp);
    });
}

// dq[r, h] = sum_j dS[r, h, j] k_j.
template <execution_policy P, class T>
void attention_backward_q(const P& pol, const T* ds, const T* keys, T* dq, const index_t* kbase, const index_t* pos,
                          index_t n, index_t heads, index_t kv_heads, index_t hd, index_t span) {
    const index_t group = heads / kv_heads, kvd = kv_heads * hd, qd = heads * hd;
    pol.parallel_for(n * qd, [=] LETHE_HD(index_t i) {
        const index_t r = i / qd, rem = i - r * qd, h = rem / hd, c = rem - h * hd;
        const T* p = ds + (r * heads + h) * span;
        const T* kc = keys + kbase[r] * kvd + (h / group) * hd + c;
        T acc = T(0);
        for (index_t j = 0; j <= pos[r]; ++j) acc += p[j] * kc[j * kvd];
        dq[i] = acc;
    });
}

// Key/value row m (position j = pos[m]) gathers from the later query rows of
// its sequence and the heads of its group, so each output has one writer:
//   dk[m, g] = sum_{r >= m, h in g} dS[r, h, j] q[r, h]
//   dv[m, g] = sum_{r >= m, h in g} P[r, h, j] do[r, h]
template <execution_policy P, class T>
void attention_backward_kv(const P& pol, const T* att, const T* ds, const T* q, const T* dout, T* dk, T* dv,
                           const index_t* kbase, const index_t* pos, index_t n, index_t heads, index_t kv_heads,
                           index_t hd, index_t seq) {
    const index_t group = heads / kv_heads, kvd = kv_heads * hd, qd = heads * hd;
    pol.parallel_for(n * kvd, [=] LETHE_HD(index_t i) {
        const index_t m = i / kvd, rem = i - m * kvd, g = rem / hd, c = rem - g * hd, j = pos[m];
        T ak = T(0), av = T(0);
        for (index_t r = m; r < kbase[m] + seq; ++r)
            for (index_t h = g * group; h < (g + 1) * group; ++h) {
                const index_t at = (r * heads + h) * seq + j;
                ak += ds[at] * q[r * qd + h * hd + c];
                av += att[at] * dout[r * qd + h * hd + c];
            }
        dk[i] = ak;
        dv[i] = av;
    });
}

// dE[tok[r], :] += dx[r, :], one column per thread, rows in order
// (repeated tokens add up deterministically).
template <execution_policy P, class T>
void embed_backward(const P& pol, const token_id* tok, const T* dx, T* dE, index_t n, index_t d) {
    pol.parallel_for(d, [=] LETHE_HD(index_t j) {
        for (index_t r = 0; r < n; ++r) dE[index_t(tok[r]) * d + j] += dx[r * d + j];
    });
}

}  // namespace lethe::model::thrust_kernels

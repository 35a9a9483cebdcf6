// lethe/loss/fused_linear.hpp - the output projection fused with the loss:
// from last hidden states H [N, d] and the output matrix W [V, d], the loss,
// dH [N, d] and dW [V, d] without ever holding the [N, V] logits.
//
//   lethe::loss::host_fused_linear_workspace<float> ws(N, rows, chunk, V);
//   auto tt = lethe::loss::make_token_targets(targets2, mask2);
//   auto r = lethe::loss::fused_linear_preference(lethe::par, lethe::loss::eigen_gemm{},
//                H, W, tt, ws.view(), dH, dW, lethe::loss::preference_config::orpo(0.1));
//
// The logits are made chunk by chunk, Z_c = H_c W^T ([C, V], the only
// logits buffer, caller-owned), so the extra memory is C*V + O(N) values.
// NLL (fused_linear_nll): the per-token weight -1/M is known from the mask,
// so one pass per chunk: Z_c, the in-place gradient G_c = dL/dZ_c,
// dH_c = G_c W, dW += G_c^T H_c (3 GEMMs of 2 C V d flops).
// Sequence-level losses (preference, unlearning): a token's weight depends on
// its whole sequence, so a first pass computes Z_c and the log-probs only;
// after the objective, a second pass recomputes Z_c and does the backward
// (4 GEMMs in all, one more than the materialised path).
// The GEMM hook (see gemm_eigen.hpp) is the only backend-specific part.
#pragma once

#include <type_traits>
#include <vector>

#include "nll.hpp"
#include "preference.hpp"
#include "sequence_logprobs.hpp"
#include "unlearning.hpp"

namespace lethe::loss {

template <class T, class Space = host_space>
struct fused_linear_workspace {
    loss_workspace<T, Space> loss;  // token and sequence scratch ([N], [rows])
    view2<T, Space> chunk;          // [C, V]: one chunk of logits / gradients
};

// Host-owned fused workspace: chunk_rows * vocab + 2 * tokens + 6 * rows values.
template <class T>
class host_fused_linear_workspace {
public:
    host_fused_linear_workspace(index_t tokens, index_t rows, index_t chunk_rows, index_t vocab)
        : loss_(tokens, rows), chunk_(static_cast<std::size_t>(chunk_rows * vocab)), rows_(chunk_rows), vocab_(vocab) {}
    fused_linear_workspace<T> view() {
        return {loss_.view(), make_view(chunk_.data(), rows_, vocab_)};
    }
    // Bytes held by this workspace (the extra memory of the fused path).
    std::size_t bytes() const noexcept { return chunk_.size() * sizeof(T) + loss_bytes(); }

private:
    std::size_t loss_bytes() const noexcept {
        auto v = const_cast<host_loss_workspace<T>&>(loss_).view();
        return (2 * v.lse.size() + 6 * v.coef_prompt.size()) * sizeof(T);
    }
    host_loss_workspace<T> loss_;
    std::vector<T> chunk_;
    index_t rows_, vocab_;
};

// H and W parameters: T and the space come from the workspace, so mutable
// views convert here.
template <class T, class S>
using const_view2 = std::type_identity_t<view2<const T, S>>;

namespace detail {

template <class P, class T, class S, class DH, class DW>
void check_fused(const P& pol, view2<const T, S> h, view2<const T, S> w, const token_targets<S>& tt,
                 const fused_linear_workspace<T, S>& ws, const DH& dh, const DW& dw, const char* where) {
    require_space<P, view2<const T, S>>();
    check_targets(pol, tt, where);
    require_extent(h, 0, tt.tokens(), where, "H");
    require_extent(w, 1, h.extent(1), where, "W");
    require(w.extent(0) > 0, where, "W: the vocabulary is empty");
    require(ws.chunk.extent(0) > 0, where, "workspace.chunk: needs at least one row");
    require_extent(ws.chunk, 1, w.extent(0), where, "workspace.chunk");
    require(ws.chunk.has_unit_inner_stride() && (ws.chunk.extent(0) <= 1 || ws.chunk.stride(0) == w.extent(0)), where,
            "workspace.chunk: must be contiguous");
    require_same_shape(dh, h, where, "dH", "H");
    require_same_shape(dw, w, where, "dW", "W");
}

// Tiling of the sequence-level losses: blocks of `rows` token rows by
// `cols` vocabulary columns, each tile Z = H_b W_t^T a [rows, cols] GEMM
// with K = d. Tiles run over the vocabulary (all N rows in one block when
// the chunk buffer holds at least 1024 columns for them), so every GEMM has
// two large dimensions: Z (rows x cols x d), dW_t = G^T H_b (cols x d x
// rows) and dH_b += G W_t (rows x d x cols). Row chunks of C = 128 give
// GEMMs with one dimension of 128 that Eigen runs at 60-70% of its rate
// here, and re-read all of W (113 MB at V = 49152, d = 576) three times per
// chunk. The chunk buffer [C, V] holds the tile plus one value per row of
// the block (the target logit, kept until the block's last tile).
struct fused_tiling {
    index_t rows = 0;  // token rows per block
    index_t cols = 0;  // vocabulary columns per tile
};

inline fused_tiling plan_tiles(index_t tokens, index_t vocab, index_t chunk_values) {
    constexpr index_t min_cols = 1024;
    const index_t want = vocab < min_cols ? vocab : min_cols;
    fused_tiling t;
    t.rows = chunk_values / (want + 1) < tokens ? chunk_values / (want + 1) : tokens;
    if (t.rows < 1) t.rows = 1;
    index_t cols = chunk_values / t.rows - 1;  // >= want, or >= vocab - 1 for tiny buffers
    if (cols > vocab) cols = vocab;
    if (cols < 1) cols = 1;
    // Even tiles (no sliver at the end), widths rounded up to 16 floats.
    const index_t tiles = (vocab + cols - 1) / cols;
    index_t even = (vocab + tiles - 1) / tiles;
    even = (even + 15) / 16 * 16;
    t.cols = even <= cols ? even : cols;
    return t;
}

// (m, s) -> the log-sum-exp m + log s merged with one more value l
// (online_logsumexp's rules: NaN sticks in s, +inf wins, -inf adds nothing).
template <class T>
LETHE_HD inline void merge_lse(T& m, T& s, T l) noexcept {
    if (l != l || s != s) {
        s = quiet_nan<T>();
    } else if (l == neg_inf<T>()) {
        return;
    } else if (m == pos_inf<T>() || l == pos_inf<T>()) {
        m = pos_inf<T>();
        s = T(1);
    } else if (l > m) {
        s = s * std::exp(m - l) + T(1);  // m = -inf: s = 0 * 0 + 1
        m = l;
    } else {
        s += std::exp(l - m);
    }
}

// First pass: the log-probs of every token, tile by tile. Per token row the
// running (m, s) of the non-target columns lives in L.lse and L.logp, the
// target logit in the chunk buffer's tail; the target's column is set to
// -inf in its tile so that s excludes it (the confident-token formula
// needs the sum without the target: logp = -log1p(s exp(m - x_t))).
template <class P, class G, class T, class S>
void fused_forward(const P& pol, const G& gemm, view2<const T, S> h, view2<const T, S> w, const token_targets<S>& tt,
                   const fused_linear_workspace<T, S>& ws, const loss_options& opt, const char* where) {
    const index_t n = h.extent(0), vocab = w.extent(0);
    const auto& L = ws.loss;
    check_workspace<P>(L, n, tt.rows(), where);
    const auto tg = tt.targets;
    const auto mk = tt.mask;
    const token_issue bad_target = pol.transform_reduce(
        n, token_issue{},
        [=] LETHE_HD(index_t i) {
            token_issue is;
            const std::int32_t t = tg(i);
            if (mk(i) != token_kind::ignore && (t < 0 || t >= vocab)) {
                is.token = i;
                is.kind = 1;
                is.target = t;
            }
            return is;
        },
        first_token_issue{});
    if (bad_target.kind != 0) throw_token_issue(where, bad_target, tt.layout, vocab);
    const fused_tiling tiles = plan_tiles(n, vocab, ws.chunk.extent(0) * ws.chunk.extent(1));
    require(tiles.rows * (tiles.cols + 1) <= ws.chunk.extent(0) * ws.chunk.extent(1), where,
            "workspace.chunk: too small for one tile and its target logits (needs at least 2 values)");
    const auto lse = L.lse;
    const auto logp = L.logp;
    const bool check = opt.check_values;
    token_issue first_bad;
    for (index_t r0 = 0; r0 < n && first_bad.kind == 0; r0 += tiles.rows) {
        const index_t nb = n - r0 < tiles.rows ? n - r0 : tiles.rows;
        const view2<const T, S> hb = h.slice_rows(r0, nb);
        const view1<T, S> xt(ws.chunk.data() + nb * tiles.cols, nb);
        pol.parallel_for(nb, [=] LETHE_HD(index_t i) {
            lse(r0 + i) = neg_inf<T>();
            logp(r0 + i) = T(0);
            xt(i) = quiet_nan<T>();
        });
        for (index_t c0 = 0; c0 < vocab; c0 += tiles.cols) {
            const index_t nc = vocab - c0 < tiles.cols ? vocab - c0 : tiles.cols;
            const view2<T, S> z(ws.chunk.data(), nb, nc);
            gemm(pol, false, true, T(1), hb, w.slice_rows(c0, nc), T(0), z);
            pol.parallel_for(nb, [=] LETHE_HD(index_t i) {
                const index_t tok = r0 + i;
                if (mk(tok) == token_kind::ignore) return;
                T* row = &z(i, 0);
                const index_t t = tg(tok) - c0;
                if (t >= 0 && t < nc) {
                    xt(i) = row[t];
                    row[t] = neg_inf<T>();
                }
                T m = lse(tok), s = logp(tok);
                merge_lse(m, s, lethe::detail::row_logsumexp_kernel(row, nc, index_t(1)));
                lse(tok) = m;
                logp(tok) = s;
            });
        }
        // Finish the block: add the target, then logp as token_forward has it.
        first_bad = pol.transform_reduce(
            nb, token_issue{},
            [=] LETHE_HD(index_t i) {
                const index_t tok = r0 + i;
                token_issue is;
                if (mk(tok) == token_kind::ignore) {
                    lse(tok) = T(0);
                    logp(tok) = T(0);
                    return is;
                }
                const T m = lse(tok), s = logp(tok), x = xt(i);
                T mm = m, ss = s;
                merge_lse(mm, ss, x);
                T l = mm + std::log(ss);
                if (ss != ss) l = quiet_nan<T>();
                else if (mm == neg_inf<T>() || mm == pos_inf<T>()) l = mm;
                T lp = x - l;
                if (lp > confident_logp<T>) {
                    lp = -std::log1p(s * std::exp(m - x));  // m = -inf: s = 0, lp = 0
                    l = x - lp;
                }
                lse(tok) = l;
                logp(tok) = lp;
                if (check && (is_nonfinite_bits(l) || is_nonfinite_bits(lp))) {
                    is.token = tok;
                    is.kind = 2;
                }
                return is;
            },
            first_token_issue{});
    }
    if (first_bad.kind != 0) throw_token_issue(where, first_bad, tt.layout, vocab);
    sequence_sums(pol, tt.layout, tt.mask, as_const(L.logp), L.stats);
}

// Second pass: recompute each tile of logits, turn it into its gradient in
// place, then dW_t (+)= G^T H_b and dH_b (+)= G W_t.
template <class P, class G, class T, class S>
void fused_backward(const P& pol, const G& gemm, view2<const T, S> h, view2<const T, S> w, const token_targets<S>& tt,
                    const fused_linear_workspace<T, S>& ws, view2<T, S> dh, view2<T, S> dw) {
    const index_t n = h.extent(0), vocab = w.extent(0);
    const auto& L = ws.loss;
    const fused_tiling tiles = plan_tiles(n, vocab, ws.chunk.extent(0) * ws.chunk.extent(1));
    const auto layout = tt.layout;
    const auto tg = tt.targets;
    const auto mk = tt.mask;
    const auto lse = as_const(L.lse);
    const auto logp = as_const(L.logp);
    const auto cc = as_const(L.coef_completion);
    const auto cp = as_const(L.coef_prompt);
    for (index_t r0 = 0; r0 < n; r0 += tiles.rows) {
        const index_t nb = n - r0 < tiles.rows ? n - r0 : tiles.rows;
        const view2<const T, S> hb = h.slice_rows(r0, nb);
        for (index_t c0 = 0; c0 < vocab; c0 += tiles.cols) {
            const index_t nc = vocab - c0 < tiles.cols ? vocab - c0 : tiles.cols;
            const view2<T, S> z(ws.chunk.data(), nb, nc);
            const view2<const T, S> wt = w.slice_rows(c0, nc);
            gemm(pol, false, true, T(1), hb, wt, T(0), z);
            pol.parallel_for(nb, [=] LETHE_HD(index_t i) {
                const index_t tok = r0 + i;
                const std::uint8_t k = mk(tok);
                T g = T(0);
                if (k != token_kind::ignore) g = k == token_kind::completion ? cc(layout.row_of(tok)) : cp(layout.row_of(tok));
                T* row = &z(i, 0);
                softmax_grad_span(static_cast<const T*>(row), index_t(1), row, index_t(1), nc, index_t(tg(tok)) - c0,
                                  lse(tok), logp(tok), g);
            });
            const view2<const T, S> gz = z;
            gemm(pol, true, false, T(1), gz, hb, r0 == 0 ? T(0) : T(1), dw.slice_rows(c0, nc));
            gemm(pol, false, false, T(1), gz, wt, c0 == 0 ? T(0) : T(1), dh.slice_rows(r0, nb));
        }
    }
}

}  // namespace detail

// Token-level NLL (mean over tokens with mask != 0) of the logits H W^T,
// with dH and dW. One pass, 3 GEMMs per chunk. Only ws.chunk is used.
template <execution_policy P, class G, class T, class S>
nll_result<T> fused_linear_nll(const P& pol, const G& gemm, const_view2<T, S> h, const_view2<T, S> w,
                               const token_targets<S>& tt, const fused_linear_workspace<T, S>& ws, view2<T, S> dh,
                               view2<T, S> dw, const loss_options& opt = {}) {
    constexpr const char* where = "lethe::loss::fused_linear_nll";
    detail::check_fused(pol, h, w, tt, ws, dh, dw, where);
    const index_t n = h.extent(0), cr = ws.chunk.extent(0);
    const index_t counted = detail::counted_tokens(pol, tt.mask);
    require(counted > 0, where, "mask: no token is counted (all ", n, " mask entries are 0)");
    const T g = T(-1) / static_cast<T>(counted);
    double sum = 0.0;
    for (index_t c0 = 0; c0 < n; c0 += cr) {
        const index_t nc = n - c0 < cr ? n - c0 : cr;
        const auto z = ws.chunk.slice_rows(0, nc);
        const view2<const T, S> hc = h.slice_rows(c0, nc);
        gemm(pol, false, true, T(1), hc, w, T(0), z);
        const auto part = detail::nll_pass<true>(pol, view2<const T, S>(z), c0, tt.targets, tt.mask, z, g,
                                                 opt.check_values);
        if (part.issue.kind != 0) detail::throw_token_issue(where, part.issue, tt.layout, w.extent(0));
        sum += part.sum;
        gemm(pol, false, false, T(1), view2<const T, S>(z), w, T(0), dh.slice_rows(c0, nc));
        gemm(pol, true, false, T(1), view2<const T, S>(z), hc, c0 == 0 ? T(0) : T(1), dw);
    }
    return {static_cast<T>(-sum / static_cast<double>(counted)), counted};
}

// Any preference loss (ORPO, DPO, ...) of the logits H W^T, with dH and dW.
template <execution_policy P, class G, class T, class S>
preference_result fused_linear_preference(const P& pol, const G& gemm, const_view2<T, S> h, const_view2<T, S> w,
                                          const token_targets<S>& tt, const fused_linear_workspace<T, S>& ws,
                                          view2<T, S> dh, view2<T, S> dw, const preference_config& cfg,
                                          view1<const T, S> ref_logps = {}) {
    constexpr const char* where = "lethe::loss::fused_linear_preference";
    require(cfg.beta > 0, where, "beta must be > 0 (got ", cfg.beta, ")");
    detail::check_fused(pol, h, w, tt, ws, dh, dw, where);
    detail::fused_forward(pol, gemm, h, w, tt, ws, cfg.options, where);
    const auto res = preference_objective(pol, tt.rows(), ws.loss, cfg, ref_logps, view1<T, S>{});
    detail::fused_backward(pol, gemm, h, w, tt, ws, dh, dw);
    return res;
}

// Any unlearning loss (NPO, SimNPO, gradient ascent/difference) of H W^T.
template <execution_policy P, class G, class T, class S>
unlearning_result fused_linear_unlearning(const P& pol, const G& gemm, const_view2<T, S> h, const_view2<T, S> w,
                                          const token_targets<S>& tt, const fused_linear_workspace<T, S>& ws,
                                          view2<T, S> dh, view2<T, S> dw, const unlearning_config& cfg,
                                          view1<const T, S> ref_logps = {}) {
    constexpr const char* where = "lethe::loss::fused_linear_unlearning";
    detail::check_fused(pol, h, w, tt, ws, dh, dw, where);
    detail::fused_forward(pol, gemm, h, w, tt, ws, cfg.options, where);
    const auto res = unlearning_objective(pol, tt.rows(), ws.loss, cfg, ref_logps);
    detail::fused_backward(pol, gemm, h, w, tt, ws, dh, dw);
    return res;
}

}  // namespace lethe::loss

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

// Second pass of the sequence-level losses: recompute each chunk of logits,
// turn it into its gradient in place, then dH_c = G_c W and dW += G_c^T H_c.
template <class P, class G, class T, class S>
void fused_backward(const P& pol, const G& gemm, view2<const T, S> h, view2<const T, S> w, const token_targets<S>& tt,
                    const fused_linear_workspace<T, S>& ws, view2<T, S> dh, view2<T, S> dw) {
    const index_t n = h.extent(0), cr = ws.chunk.extent(0);
    const auto& L = ws.loss;
    for (index_t c0 = 0; c0 < n; c0 += cr) {
        const index_t nc = n - c0 < cr ? n - c0 : cr;
        const auto z = ws.chunk.slice_rows(0, nc);
        const view2<const T, S> hc = h.slice_rows(c0, nc);
        gemm(pol, false, true, T(1), hc, w, T(0), z);
        token_grad_pass(pol, view2<const T, S>(z), z, c0, tt.layout, tt.targets, tt.mask, as_const(L.lse),
                        as_const(L.logp), as_const(L.coef_completion), as_const(L.coef_prompt));
        gemm(pol, false, false, T(1), view2<const T, S>(z), w, T(0), dh.slice_rows(c0, nc));
        gemm(pol, true, false, T(1), view2<const T, S>(z), hc, c0 == 0 ? T(0) : T(1), dw);
    }
}

// First pass: log-probs of every token, chunk by chunk, then the sums.
template <class P, class G, class T, class S>
void fused_forward(const P& pol, const G& gemm, view2<const T, S> h, view2<const T, S> w, const token_targets<S>& tt,
                   const fused_linear_workspace<T, S>& ws, const loss_options& opt, const char* where) {
    const index_t n = h.extent(0), cr = ws.chunk.extent(0);
    const auto& L = ws.loss;
    check_workspace<P>(L, n, tt.rows(), where);
    for (index_t c0 = 0; c0 < n; c0 += cr) {
        const index_t nc = n - c0 < cr ? n - c0 : cr;
        const auto z = ws.chunk.slice_rows(0, nc);
        gemm(pol, false, true, T(1), h.slice_rows(c0, nc), w, T(0), z);
        const auto is = token_pass(pol, view2<const T, S>(z), c0, tt.targets, tt.mask, L.lse, L.logp, opt.check_values);
        if (is.kind != 0) throw_token_issue(where, is, tt.layout, w.extent(0));
    }
    sequence_sums(pol, tt.layout, tt.mask, as_const(L.logp), L.stats);
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

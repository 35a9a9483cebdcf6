// lethe/loss/nll.hpp - token-level negative log-likelihood (SFT loss).
//
//   result = lethe::loss::nll(policy, logits, targets, mask, dlogits [, options]);
//
//   logits  [N, V] (or [B, T, V])  float or double
//   targets [N]    (or [B, T])     int32, already shifted: the id that should
//                                  follow position n
//   mask    [N]    (or [B, T])     uint8, nonzero = the token counts
//   dlogits [N, V] (or [B, T, V])  receives dL/dlogits; may be the logits
//                                  view itself (in place); optional
//
//   loss = -(1/M) sum_{n: mask_n != 0} log softmax(x_n)[t_n],  M = #counted
//   dL/dx(n, :) = (1/M) (softmax(x_n) - onehot(t_n)) for counted tokens, 0
//   for the others (exactly what torch.nn.functional.cross_entropy with
//   ignore_index gives for mean reduction).
//
// Since M depends only on the mask, the loss and the gradient come out of one
// pass over the logits: each row is read once to get its log-sum-exp and
// then, still in cache, written as its gradient.
// Errors (lethe::error, naming row/position): shape mismatch, no counted token,
// target id outside [0, V), NaN/Inf logits (unless options.check_values is
// false; target ids are always checked).
#pragma once

#include "sequence_logprobs.hpp"

namespace lethe::loss {

template <class T>
struct nll_result {
    T loss = T(0);         // mean NLL over counted tokens
    index_t tokens = 0;    // M
};

namespace detail {

struct nll_partial {
    double sum = 0.0;
    token_issue issue;
};
struct nll_combine {
    LETHE_HD nll_partial operator()(const nll_partial& a, const nll_partial& b) const noexcept {
        nll_partial r;
        r.sum = a.sum + b.sum;
        r.issue = b.issue.token < a.issue.token ? b.issue : a.issue;
        return r;
    }
};

// Number of counted tokens (mask != 0).
template <class P, class S>
index_t counted_tokens(const P& pol, view1<const std::uint8_t, S> mask) {
    return pol.transform_reduce(
        mask.extent(0), index_t(0), [=] LETHE_HD(index_t n) { return mask(n) != 0 ? index_t(1) : index_t(0); },
        [] LETHE_HD(index_t a, index_t b) { return a + b; });
}

// One fused pass over token rows [first, first + logits.extent(0)): log-prob
// sum of counted tokens, first problem, and (WithGrad) the gradient with
// per-token weight g (dL/dlogp) written to dlogits (rows relative to first).
template <bool WithGrad, class P, class T, class S, class D>
nll_partial nll_pass(const P& pol, view2<const T, S> logits, index_t first, view1<const std::int32_t, S> targets,
                     view1<const std::uint8_t, S> mask, const D& dlogits, T g, bool check) {
    const index_t vocab = logits.extent(1);
    const auto dv = dlogits;
    return pol.transform_reduce(
        logits.extent(0), nll_partial{},
        [=] LETHE_HD(index_t i) {
            const index_t n = first + i;
            nll_partial out;
            const std::int32_t t = targets(n);
            const bool counts = mask(n) != 0;
            const T weight = counts ? g : T(0);  // (nvcc: capture g and dv outside the constexpr-if)
            (void)dv;
            T lse = T(0), logp = T(0);
            if (counts) {
                token_forward(&logits(i, 0), vocab, logits.stride(1), t, lse, logp);
                if (t < 0 || t >= vocab) {
                    out.issue.token = n;
                    out.issue.kind = 1;
                    out.issue.target = t;
                } else if (check && (is_nonfinite_bits(lse) || is_nonfinite_bits(logp))) {
                    out.issue.token = n;
                    out.issue.kind = 2;
                }
                out.sum = static_cast<double>(logp);
            }
            if constexpr (WithGrad)
                token_backward(&logits(i, 0), logits.stride(1), &dv(i, 0), dv.stride(1), vocab, t, lse, logp, weight);
            return out;
        },
        nll_combine{});
}

template <class S>
void throw_flat_issue(const char* where, const token_issue& is, index_t tokens, index_t vocab) {
    sequence_layout<S> flat;  // positions are reported as flat token indices
    flat.rows = 1;
    flat.tokens_per_row = tokens;
    throw_token_issue(where, is, flat, vocab);
}

template <class P, class T, class S, class D, bool WithGrad>
nll_result<T> nll_impl(const P& pol, view2<const T, S> logits, view1<const std::int32_t, S> targets,
                       view1<const std::uint8_t, S> mask, const D& dlogits, const loss_options& opt) {
    constexpr const char* where = "lethe::loss::nll";
    require_space<P, view2<const T, S>>();
    const index_t n_tok = logits.extent(0), vocab = logits.extent(1);
    require(vocab > 0, where, "logits: the vocabulary is empty");
    require_extent(targets, 0, n_tok, where, "targets");
    require_extent(mask, 0, n_tok, where, "mask");
    if constexpr (WithGrad) {
        require_space<P, D>();
        require_same_shape(dlogits, logits, where, "dlogits", "logits");
    }
    const index_t counted = counted_tokens(pol, mask);
    require(counted > 0, where, "mask: no token is counted (all ", n_tok, " mask entries are 0)");
    const T g = T(-1) / static_cast<T>(counted);  // dL/dlogp_n for counted tokens
    const nll_partial total = nll_pass<WithGrad>(pol, logits, 0, targets, mask, dlogits, g, opt.check_values);
    if (total.issue.kind != 0) throw_flat_issue<S>(where, total.issue, n_tok, vocab);
    return {static_cast<T>(-total.sum / static_cast<double>(counted)), counted};
}

}  // namespace detail

// Token rows [N, V], with gradient.
template <execution_policy P, class T, class S, class I, class M, class D>
    requires(D::rank == 2)
nll_result<std::remove_const_t<T>> nll(const P& pol, const strided_view<T, 2, S>& logits,
                                       const strided_view<I, 1, S>& targets,
                                       const strided_view<M, 1, S>& mask, const D& dlogits,
                                       const loss_options& opt = {}) {
    using V = std::remove_const_t<T>;
    return detail::nll_impl<P, V, S, D, true>(pol, view2<const V, S>(logits), targets, mask, dlogits, opt);
}

// Token rows [N, V], loss only.
template <execution_policy P, class T, class S, class I, class M>
nll_result<std::remove_const_t<T>> nll(const P& pol, const strided_view<T, 2, S>& logits,
                                       const strided_view<I, 1, S>& targets,
                                       const strided_view<M, 1, S>& mask,
                                       const loss_options& opt = {}) {
    using V = std::remove_const_t<T>;
    return detail::nll_impl<P, V, S, view2<V, S>, false>(pol, view2<const V, S>(logits), targets, mask,
                                                         view2<V, S>{}, opt);
}

// Padded [B, T, V] logits with [B, T] targets and mask, with gradient.
template <execution_policy P, class T, class S, class I, class M, class D>
    requires(D::rank == 3)
nll_result<std::remove_const_t<T>> nll(const P& pol, const strided_view<T, 3, S>& logits,
                                       const strided_view<I, 2, S>& targets,
                                       const strided_view<M, 2, S>& mask, const D& dlogits,
                                       const loss_options& opt = {}) {
    const auto b = make_token_batch(logits, targets, mask);
    require(dlogits.rows_fuse(), "lethe::loss::nll", "dlogits: rows and positions must be contiguous");
    require_same_shape(dlogits, logits, "lethe::loss::nll", "dlogits", "logits");
    return nll(pol, b.logits, b.targets, b.mask, dlogits.flatten_rows(), opt);
}

// Padded [B, T, V], loss only.
template <execution_policy P, class T, class S, class I, class M>
nll_result<std::remove_const_t<T>> nll(const P& pol, const strided_view<T, 3, S>& logits,
                                       const strided_view<I, 2, S>& targets,
                                       const strided_view<M, 2, S>& mask,
                                       const loss_options& opt = {}) {
    const auto b = make_token_batch(logits, targets, mask);
    return nll(pol, b.logits, b.targets, b.mask, opt);
}

}  // namespace lethe::loss

// lethe/guidance/cfg.hpp - classifier-free guidance combiners over logit rows.
//
// Given the conditional row z_pos and K >= 1 negative rows z_neg[k] with
// weights w_k > 0, and the guidance scale g >= 0 (source: arXiv 2412.06846,
// eq. 2 and section 5; Sanchez et al. 2023 "Stay on topic with CFG"):
//   cfg_space::log          s = log_softmax(z_pos), u_k = log_softmax(z_neg[k]),
//                           u = sum_k w_k u_k / sum_k w_k,   out = u + g (s - u)
//                           (the Hugging Face processor's formula)
//   cfg_space::prob         p = softmax(z_pos), q = sum_k w_k softmax(z_neg[k]) / sum w,
//                           out = q + g (p - q): may be negative, not normalised;
//                           for argmax only
//   cfg_space::prob_sample  as prob, then clamped at 0 and renormalised to sum 1
//                           (only needed for g > 1; for g <= 1 it is a convex mix)
//   cfg_space::logit        u = sum_k w_k z_neg[k] / sum w,  out = u + g (z_pos - u)
// With one negative every form reduces to the paper's. With several, the
// negatives are first averaged with their weights, which equals
// out = s + sum_k (w_k / sum w) (g - 1)(s - u_k): each negative pushes away in
// proportion to its weight.
//
// Edges, exact (no rounding): g = 1 returns s (log), p (prob), z_pos (logit);
// g = 0 returns u, q, u. The -inf rule (log and logit forms): a token the
// conditional branch forbids (s = -inf) stays -inf for every g > 0; a token
// only the negative branch forbids (u = -inf, s finite) gets s, i.e. the
// negative contributes nothing for it (u + g (s - u) would be inf - inf or
// +inf); at g = 0 the output is u whatever s is. No output is ever NaN. Rows
// with NaN or +inf, or whose entries are all -inf, are rejected with
// lethe::error naming the row and the branch.
#pragma once

#include <span>

#include "../core/config.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/numerics.hpp"
#include "../core/row_ops.hpp"
#include "../core/view.hpp"

namespace lethe::guidance {

enum class cfg_space { log, prob, prob_sample, logit };

const char* to_string(cfg_space s) noexcept;
cfg_space parse_cfg_space(std::string_view name);

inline constexpr int max_negatives = 8;

// Plain data so it can be captured by value in device kernels.
struct cfg_params {
    cfg_space space = cfg_space::log;
    float scale = 1.0f;
    int num_negatives = 1;
    float weight[max_negatives] = {1, 1, 1, 1, 1, 1, 1, 1};  // normalised by their sum

    static cfg_params make(cfg_space space, float scale, std::span<const float> weights = {});
};

// out(i, :) = the combination of cond(i, :) and neg(k, i, :), k < K. out may
// alias cond (in place). Views: cond, out [rows, V]; neg [K, rows, V].
template <execution_policy P, class Cond, class Neg, class Out>
void cfg_combine(const P& pol, const Cond& cond, const Neg& neg, const Out& out, const cfg_params& prm);

// One negative: neg is [rows, V].
template <execution_policy P, class Cond, class Neg, class Out>
void cfg_combine_one(const P& pol, const Cond& cond, const Neg& neg, const Out& out, cfg_params prm);

// What cfg_combine returns at g = 1, computed directly (no negative rows):
// log -> log_softmax(cond), prob/prob_sample -> softmax(cond), logit -> cond,
// with the very same expressions, so unguided decoding and CFG at g = 1 feed
// bit-identical rows to the sampler.
template <execution_policy P, class Cond, class Out>
void cfg_conditional(const P& pol, const Cond& cond, const Out& out, cfg_space space);

// The scalar rule used by the log and logit forms (see the header comment).
template <class T>
LETHE_HD inline T cfg_mix(T s, T u, T g) noexcept {
    if (g == T(0)) return u;
    if (s == neg_inf<T>()) return s;
    if (u == neg_inf<T>() || g == T(1)) return s;
    return u + g * (s - u);
}

}  // namespace lethe::guidance

#include "cfg_impl.hpp"

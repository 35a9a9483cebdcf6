// lethe/loss/preference.hpp - pairwise preference losses on sequence
// log-probs: ORPO (the default of this library's recipe), DPO (sigmoid with
// label smoothing, hinge, IPO), SimPO and CPO, with TRL's metrics.
//
//   lethe::loss::host_loss_workspace<float> ws(N, rows);
//   auto batch = lethe::loss::make_token_batch(logits3, targets2, mask2);
//   auto r = lethe::loss::preference_loss(lethe::par, batch, ws.view(), dlogits,
//                                         lethe::loss::preference_config::orpo(0.1));
//   r.loss; r.metrics.rewards_chosen; ...   dlogits now holds dL/dlogits.
//
// Pair layout (preference_config::layout): a batch of P pairs has 2P rows,
// either chosen_then_rejected (rows 0..P-1 chosen, P..2P-1 rejected, TRL's
// concatenated batch) or interleaved (row 2i chosen, 2i+1 rejected).
//
// Per sequence the loss uses x = sum of completion-token log-probs (DPO,
// hinge, CPO) or their mean (ORPO, IPO, SimPO), as TRL does. With P pairs:
//   loss = (1/P) sum_i term(x_c, x_r) + nll_weight * NLL(chosen rows)
//   ORPO  (Hong et al. 2024; TRL ORPOTrainer.odds_ratio_loss):
//         z = (x_c - x_r) - (log1mexp(x_c) - log1mexp(x_r)),
//         term = -beta * log_sigmoid(z), nll_weight = 1
//   DPO   (Rafailov et al. 2023; TRL DPOTrainer "sigmoid"):
//         h = beta ((x_c - ref_c) - (x_r - ref_r)),
//         term = -(1 - eps) log_sigmoid(h) - eps log_sigmoid(-h)
//   hinge (SLiC, Zhao et al. 2023; TRL "hinge"): term = max(0, 1 - h)
//   IPO   (Azar et al. 2023; TRL "ipo", mean log-probs):
//         u = (x_c - ref_c) - (x_r - ref_r), term = (u - 1/(2 beta))^2
//   SimPO (Meng et al. 2024; TRL CPOTrainer "simpo", mean log-probs):
//         s = beta (x_c - x_r) - gamma,
//         term = -(1 - eps) log_sigmoid(s) - eps log_sigmoid(-s), nll_weight 0
//   CPO   (Xu et al. 2024; TRL CPOTrainer "sigmoid", sum log-probs):
//         s = beta (x_c - x_r), term as SimPO's, nll_weight = alpha (1)
// NLL(chosen) = -(sum of logp over the chosen rows' tokens in scope) / (their
// number): completion tokens (default), or prompt + completion tokens (TRL
// 0.11's ORPO) with nll_scope::prompt_and_completion.
// Reference log-probs (DPO, hinge, IPO) are per-row *sums* over completion
// tokens, in row order (what sequence_logprobs gives for the reference
// model); IPO divides them by the row's completion token count itself.
// Metrics use TRL's definitions: rewards = beta * x (ORPO, SimPO, CPO) or
// beta * (x - ref) (DPO family), logps = x.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "sequence_logprobs.hpp"

namespace lethe::loss {

enum class preference_kind { orpo, dpo_sigmoid, dpo_hinge, ipo, simpo, cpo };
enum class pair_layout { chosen_then_rejected, interleaved };
enum class nll_scope { completion, prompt_and_completion };

struct preference_config {
    preference_kind kind = preference_kind::orpo;
    double beta = 0.1;             // ORPO's lambda, DPO's beta, ...
    double label_smoothing = 0.0;  // eps of the sigmoid forms (DPO, SimPO, CPO)
    double gamma = 0.5;            // SimPO's target margin (TRL simpo_gamma)
    double nll_weight = 1.0;       // weight of NLL(chosen): ORPO 1, CPO alpha, SimPO 0
    nll_scope scope = nll_scope::completion;
    pair_layout layout = pair_layout::chosen_then_rejected;
    loss_options options{};
    // Data-parallel shards (lethe::parallel): this batch is one rank's share
    // of a global batch of global_pairs pairs whose NLL counts
    // global_nll_tokens tokens. Means are then taken over the global batch,
    // so the ranks' losses, metrics and gradients sum to the global batch's.
    // 0: this batch alone.
    double global_pairs = 0;
    double global_nll_tokens = 0;

    static preference_config orpo(double beta = 0.1, nll_scope s = nll_scope::completion) {
        preference_config c;
        c.kind = preference_kind::orpo;
        c.beta = beta;
        c.scope = s;
        return c;
    }
    static preference_config dpo(double beta = 0.1, double label_smoothing = 0.0) {
        preference_config c;
        c.kind = preference_kind::dpo_sigmoid;
        c.beta = beta;
        c.label_smoothing = label_smoothing;
        c.nll_weight = 0.0;
        return c;
    }
    static preference_config dpo_hinge(double beta = 0.1) {
        auto c = dpo(beta);
        c.kind = preference_kind::dpo_hinge;
        return c;
    }
    static preference_config ipo(double beta = 0.1) {
        auto c = dpo(beta);
        c.kind = preference_kind::ipo;
        return c;
    }
    static preference_config simpo(double beta = 2.0, double gamma = 0.5, double nll_weight = 0.0) {
        preference_config c;
        c.kind = preference_kind::simpo;
        c.beta = beta;
        c.gamma = gamma;
        c.nll_weight = nll_weight;
        return c;
    }
    static preference_config cpo(double beta = 0.1, double alpha = 1.0) {
        preference_config c;
        c.kind = preference_kind::cpo;
        c.beta = beta;
        c.nll_weight = alpha;
        return c;
    }
    preference_config with_layout(pair_layout l) const {
        auto c = *this;
        c.layout = l;
        return c;
    }
};

// Batch means, under TRL's names (see named()).
struct preference_metrics {
    double rewards_chosen = 0, rewards_rejected = 0, rewards_accuracies = 0, rewards_margins = 0;
    double logps_chosen = 0, logps_rejected = 0, nll_loss = 0;
    double log_odds_ratio = 0, log_odds_chosen = 0;  // ORPO only: mean log_sigmoid(z), mean z

    std::vector<std::pair<std::string, double>> named() const {
        return {{"rewards/chosen", rewards_chosen},   {"rewards/rejected", rewards_rejected},
                {"rewards/accuracies", rewards_accuracies}, {"rewards/margins", rewards_margins},
                {"logps/chosen", logps_chosen},       {"logps/rejected", logps_rejected},
                {"nll_loss", nll_loss},               {"log_odds_ratio", log_odds_ratio},
                {"log_odds_chosen", log_odds_chosen}};
    }
};

struct preference_result {
    double loss = 0;        // mean pair term + nll_weight * nll
    double pair_term = 0;   // mean pair term alone
    index_t pairs = 0;
    preference_metrics metrics;
};

// Per-pair evaluation, host and device. x_c, x_r: the policy's sequence
// log-probs in the kind's reduction; ref_*: the reference's (same reduction).
struct pair_terms {
    double term = 0, d_chosen = 0, d_rejected = 0;  // term and its derivatives in x_c, x_r
    double reward_chosen = 0, reward_rejected = 0;
    double log_odds = 0, log_sigmoid_log_odds = 0;  // ORPO's z and log_sigmoid(z)
};

namespace detail {

LETHE_HD inline bool kind_uses_mean(preference_kind k) noexcept {
    return k == preference_kind::orpo || k == preference_kind::ipo || k == preference_kind::simpo;
}
LETHE_HD inline bool kind_uses_reference(preference_kind k) noexcept {
    return k == preference_kind::dpo_sigmoid || k == preference_kind::dpo_hinge || k == preference_kind::ipo;
}

// -(1 - eps) log_sigmoid(s) - eps log_sigmoid(-s) and its derivative in s.
LETHE_HD inline void smoothed_sigmoid_loss(double s, double eps, double& v, double& dv) noexcept {
    v = -(1 - eps) * log_sigmoid(s) - eps * log_sigmoid(-s);
    dv = -(1 - eps) * sigmoid(-s) + eps * sigmoid(s);
}

LETHE_HD inline pair_terms evaluate_pair(preference_kind kind, double beta, double eps, double gamma, double xc,
                                         double xr, double rc, double rr) noexcept {
    pair_terms p;
    switch (kind) {
        case preference_kind::orpo: {
            // z = log odds(c) - log odds(r), odds(x) = e^x / (1 - e^x).
            // dz/dx_c = 1 / (1 - e^x_c) = -1 / expm1(x_c); dz/dx_r = 1 / expm1(x_r).
            const double z = (xc - xr) - (log1mexp(xc) - log1mexp(xr));
            const double ls = log_sigmoid(z);
            const double dterm_dz = -beta * sigmoid(-z);
            p.term = -beta * ls;
            p.d_chosen = dterm_dz * (-1.0 / std::expm1(xc));
            p.d_rejected = dterm_dz * (1.0 / std::expm1(xr));
            p.reward_chosen = beta * xc;
            p.reward_rejected = beta * xr;
            p.log_odds = z;
            p.log_sigmoid_log_odds = ls;
            break;
        }
        case preference_kind::dpo_sigmoid:
        case preference_kind::dpo_hinge: {
            const double h = beta * ((xc - rc) - (xr - rr));
            double v, dv;
            if (kind == preference_kind::dpo_sigmoid) {
                smoothed_sigmoid_loss(h, eps, v, dv);
            } else {
                v = h < 1.0 ? 1.0 - h : 0.0;
                dv = h < 1.0 ? -1.0 : 0.0;
            }
            p.term = v;
            p.d_chosen = dv * beta;
            p.d_rejected = -dv * beta;
            p.reward_chosen = beta * (xc - rc);
            p.reward_rejected = beta * (xr - rr);
            break;
        }
        case preference_kind::ipo: {
            const double u = (xc - rc) - (xr - rr) - 1.0 / (2.0 * beta);
            p.term = u * u;
            p.d_chosen = 2.0 * u;
            p.d_rejected = -2.0 * u;
            p.reward_chosen = beta * (xc - rc);
            p.reward_rejected = beta * (xr - rr);
            break;
        }
        case preference_kind::simpo:
        case preference_kind::cpo: {
            const double s = beta * (xc - xr) - (kind == preference_kind::simpo ? gamma : 0.0);
            double v, dv;
            smoothed_sigmoid_loss(s, eps, v, dv);
            p.term = v;
            p.d_chosen = dv * beta;
            p.d_rejected = -dv * beta;
            p.reward_chosen = beta * xc;
            p.reward_rejected = beta * xr;
            break;
        }
    }
    return p;
}

struct pair_sums {
    double term = 0, rc = 0, rr = 0, acc = 0, margin = 0, xc = 0, xr = 0, lsz = 0, z = 0;
};
struct add_pair_sums {
    LETHE_HD pair_sums operator()(const pair_sums& a, const pair_sums& b) const noexcept {
        return {a.term + b.term, a.rc + b.rc, a.rr + b.rr, a.acc + b.acc, a.margin + b.margin,
                a.xc + b.xc,     a.xr + b.xr, a.lsz + b.lsz, a.z + b.z};
    }
};
struct sum_count {
    double sum = 0, count = 0;
};
struct add_sum_count {
    LETHE_HD sum_count operator()(const sum_count& a, const sum_count& b) const noexcept {
        return {a.sum + b.sum, a.count + b.count};
    }
};
struct first_index {
    LETHE_HD index_t operator()(index_t a, index_t b) const noexcept { return b < a ? b : a; }
};

LETHE_HD inline index_t chosen_row(pair_layout l, index_t i, index_t /*pairs*/) noexcept {
    return l == pair_layout::interleaved ? 2 * i : i;
}
LETHE_HD inline index_t rejected_row(pair_layout l, index_t i, index_t pairs) noexcept {
    return l == pair_layout::interleaved ? 2 * i + 1 : pairs + i;
}

// First row (of `count` rows starting at `first`) without completion tokens.
template <class P, class T, class S>
void require_completions(const P& pol, view1<const T, S> tokens, index_t first, index_t count, const char* where) {
    const index_t none = pol.transform_reduce(
        count, std::numeric_limits<index_t>::max(),
        [=] LETHE_HD(index_t i) { return tokens(first + i) > T(0) ? std::numeric_limits<index_t>::max() : first + i; },
        first_index{});
    if (none != std::numeric_limits<index_t>::max())
        fail(where, "row ", none, ": completion mask is empty (no token of kind 1)");
}

}  // namespace detail

// Everything after the token pass: sequence sums are in w.stats; writes the
// per-row coefficients w.coef_completion / w.coef_prompt and returns the
// loss. Shared by the materialised and the fused linear paths.
template <execution_policy P, class T, class S>
preference_result preference_objective(const P& pol, index_t rows, const loss_workspace<T, S>& w,
                                       const preference_config& cfg, view1<const T, S> ref_logps,
                                       view1<T, S> pair_losses) {
    constexpr const char* where = "lethe::loss::preference_loss";
    require(cfg.beta > 0, where, "beta must be > 0 (got ", cfg.beta, ")");
    require(cfg.label_smoothing >= 0 && cfg.label_smoothing <= 0.5, where, "label_smoothing must be in [0, 0.5] (got ",
            cfg.label_smoothing, ")");
    require(rows % 2 == 0 && rows > 0, where, "a batch of pairs needs an even, positive number of rows (got ", rows, ")");
    const index_t pairs = rows / 2;
    const bool use_ref = detail::kind_uses_reference(cfg.kind);
    if (use_ref) require_extent(ref_logps, 0, rows, where, "reference log-probs");
    if (pair_losses.data()) require_extent(pair_losses, 0, pairs, where, "pair_losses");
    const auto st = w.stats;
    const view1<const T, S> ctok = st.completion_tokens;
    detail::require_completions(pol, ctok, 0, rows, where);

    const auto layout = cfg.layout;
    const bool all_scope = cfg.scope == nll_scope::prompt_and_completion;
    // NLL over the chosen rows: total log-prob and token count in scope.
    const detail::sum_count nll = pol.transform_reduce(
        pairs, detail::sum_count{},
        [=] LETHE_HD(index_t i) {
            const index_t c = detail::chosen_row(layout, i, pairs);
            return all_scope ? detail::sum_count{double(st.all_sum(c)), double(st.all_tokens(c))}
                             : detail::sum_count{double(st.completion_sum(c)), double(st.completion_tokens(c))};
        },
        detail::add_sum_count{});
    require(cfg.global_pairs == 0 || cfg.global_pairs >= pairs, where, "global_pairs ", cfg.global_pairs,
            " is fewer than this shard's ", pairs, " pairs");
    require(cfg.global_nll_tokens == 0 || cfg.global_nll_tokens >= nll.count, where, "global_nll_tokens ",
            cfg.global_nll_tokens, " is fewer than this shard's ", nll.count, " NLL tokens");
    const double nll_tokens = cfg.global_nll_tokens > 0 ? cfg.global_nll_tokens : nll.count;
    const double nll_value = -nll.sum / nll_tokens;
    const double nll_coef = cfg.nll_weight != 0.0 ? -cfg.nll_weight / nll_tokens : 0.0;  // dL/dlogp per token

    const auto kind = cfg.kind;
    const double beta = cfg.beta, eps = cfg.label_smoothing, gamma = cfg.gamma;
    const double inv_pairs = 1.0 / (cfg.global_pairs > 0 ? cfg.global_pairs : static_cast<double>(pairs));
    const bool mean = detail::kind_uses_mean(kind);
    const auto cc = w.coef_completion, cp = w.coef_prompt;
    const auto pl = pair_losses;
    const detail::pair_sums sums = pol.transform_reduce(
        pairs, detail::pair_sums{},
        [=] LETHE_HD(index_t i) {
            const index_t c = detail::chosen_row(layout, i, pairs), r = detail::rejected_row(layout, i, pairs);
            const double nc = st.completion_tokens(c), nr = st.completion_tokens(r);
            const double sc = st.completion_sum(c), sr = st.completion_sum(r);
            const double xc = mean ? sc / nc : sc, xr = mean ? sr / nr : sr;
            double rc = 0, rr = 0;
            if (use_ref) {
                rc = mean ? double(ref_logps(c)) / nc : double(ref_logps(c));
                rr = mean ? double(ref_logps(r)) / nr : double(ref_logps(r));
            }
            const pair_terms p = detail::evaluate_pair(kind, beta, eps, gamma, xc, xr, rc, rr);
            // Chain rule to the token log-probs: dx/dlogp_n = 1/n (mean) or 1.
            cc(c) = static_cast<T>(inv_pairs * p.d_chosen / (mean ? nc : 1.0) + nll_coef);
            cp(c) = static_cast<T>(all_scope ? nll_coef : 0.0);
            cc(r) = static_cast<T>(inv_pairs * p.d_rejected / (mean ? nr : 1.0));
            cp(r) = T(0);
            if (pl.data()) pl(i) = static_cast<T>(p.term);
            return detail::pair_sums{p.term,
                                     p.reward_chosen,
                                     p.reward_rejected,
                                     p.reward_chosen > p.reward_rejected ? 1.0 : 0.0,
                                     p.reward_chosen - p.reward_rejected,
                                     xc,
                                     xr,
                                     p.log_sigmoid_log_odds,
                                     p.log_odds};
        },
        detail::add_pair_sums{});
    preference_result res;
    res.pairs = pairs;
    res.pair_term = sums.term * inv_pairs;
    res.loss = res.pair_term + cfg.nll_weight * nll_value;
    auto& m = res.metrics;
    m.rewards_chosen = sums.rc * inv_pairs;
    m.rewards_rejected = sums.rr * inv_pairs;
    m.rewards_accuracies = sums.acc * inv_pairs;
    m.rewards_margins = sums.margin * inv_pairs;
    m.logps_chosen = sums.xc * inv_pairs;
    m.logps_rejected = sums.xr * inv_pairs;
    m.nll_loss = nll_value;
    m.log_odds_ratio = sums.lsz * inv_pairs;
    m.log_odds_chosen = sums.z * inv_pairs;
    return res;
}

// Loss, metrics and (when dlogits is a view, not nullptr) dL/dlogits for a
// batch of pairs. ref_logps [rows]: reference sums (DPO family only; pass an
// empty view otherwise). pair_losses [pairs]: optional per-pair terms out.
// dlogits [N, V] may alias batch.logits.
template <execution_policy P, class T, class S, class D = std::nullptr_t>
preference_result preference_loss(const P& pol, const token_batch<T, S>& b, const loss_workspace<T, S>& w,
                                  const D& dlogits, const preference_config& cfg,
                                  view1<const T, S> ref_logps = {}, view1<T, S> pair_losses = {}) {
    constexpr const char* where = "lethe::loss::preference_loss";
    require(cfg.beta > 0, where, "beta must be > 0 (got ", cfg.beta, ")");
    sequence_logprobs(pol, b, w, cfg.options);
    const auto res = preference_objective(pol, b.rows(), w, cfg, ref_logps, pair_losses);
    if constexpr (!std::is_same_v<D, std::nullptr_t>) sequence_logprobs_backward(pol, b, w, dlogits);
    return res;
}

// ORPO, the recipe's loss: preference_loss with preference_config::orpo(beta).
template <execution_policy P, class T, class S, class D = std::nullptr_t>
preference_result orpo(const P& pol, const token_batch<T, S>& b, const loss_workspace<T, S>& w, const D& dlogits,
                       double beta = 0.1, nll_scope scope = nll_scope::completion,
                       pair_layout layout = pair_layout::chosen_then_rejected) {
    return preference_loss(pol, b, w, dlogits, preference_config::orpo(beta, scope).with_layout(layout));
}

}  // namespace lethe::loss

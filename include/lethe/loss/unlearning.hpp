// lethe/loss/unlearning.hpp - losses on a forget set (and optionally a
// retain set) without pairs: gradient ascent, gradient difference, NPO,
// SimNPO.
//
// Rows [0, forget_rows) of the batch are forget sequences, rows
// [forget_rows, rows) retain sequences. Only completion tokens (kind 1) count.
// With F forget rows, S_r = sum of completion logp of row r, n_r its count,
// M_f / M_r the completion token counts of all forget / retain rows:
//   gradient ascent     L = (1/M_f) sum_{forget tokens} logp    (= -NLL(forget))
//   gradient difference L = -NLL(forget) + alpha * NLL(retain)
//                       (Liu et al. 2022; Maini et al. 2024, TOFU "grad_diff")
//   NPO   L = (1/F) sum_r (2/beta) softplus(beta (S_r - ref_r))
//         (Zhang et al. 2024, "Negative Preference Optimization", eq. 3:
//          -(2/beta) log sigmoid(-beta log(pi/pi_ref)) = (2/beta) softplus(...))
//   SimNPO L = (1/F) sum_r (2/beta) softplus(beta S_r / n_r + gamma)
//         (Fan et al. 2024, "Simplicity Prevails", eq. 4: reference-free,
//          length-normalised NPO with margin gamma)
// NPO and SimNPO add alpha * NLL(retain) when retain rows are present
// (NPO+RT). ref_logps [rows] are reference completion sums (NPO only).
// Gradients: dL/dS_r = (2/F) sigmoid(beta (S_r - ref_r)) (NPO),
// dL/dS_r = (2/F) sigmoid(beta S_r/n_r + gamma) / n_r (SimNPO),
// dL/dlogp = 1/M_f (ascent), -alpha/M_r (retain NLL).
#pragma once

#include "preference.hpp"
#include "sequence_logprobs.hpp"

namespace lethe::loss {

enum class unlearning_kind { gradient_ascent, gradient_difference, npo, simnpo };

struct unlearning_config {
    unlearning_kind kind = unlearning_kind::npo;
    index_t forget_rows = 0;    // rows [0, forget_rows) forget, the rest retain
    double beta = 0.1;          // NPO / SimNPO temperature
    double gamma = 0.0;         // SimNPO margin
    double retain_weight = 1.0; // alpha of the retain NLL
    loss_options options{};
};

struct unlearning_result {
    double loss = 0;
    double forget_term = 0;   // the forget part of the loss
    double retain_nll = 0;    // NLL over retain completion tokens (0 without retain rows)
    double forget_logps = 0;  // mean over forget rows of the mean completion logp
    index_t forget_rows = 0, retain_rows = 0;
};

namespace detail {
// Completion log-prob sum and token count over rows [first, first + count).
template <class P, class T, class S>
sum_count completion_totals(const P& pol, const sequence_stats<T, S>& st, index_t first, index_t count) {
    return pol.transform_reduce(
        count, sum_count{},
        [=] LETHE_HD(index_t i) {
            return sum_count{double(st.completion_sum(first + i)), double(st.completion_tokens(first + i))};
        },
        add_sum_count{});
}
}  // namespace detail

// After the token pass: writes the coefficients and returns the loss.
template <execution_policy P, class T, class S>
unlearning_result unlearning_objective(const P& pol, index_t rows, const loss_workspace<T, S>& w,
                                       const unlearning_config& cfg, view1<const T, S> ref_logps) {
    constexpr const char* where = "lethe::loss::unlearning_loss";
    const index_t nf = cfg.forget_rows, nr = rows - cfg.forget_rows;
    require(nf > 0 && nf <= rows, where, "forget_rows must be in [1, ", rows, "] (got ", nf, ")");
    const bool npo_like = cfg.kind == unlearning_kind::npo || cfg.kind == unlearning_kind::simnpo;
    if (npo_like) require(cfg.beta > 0, where, "beta must be > 0 (got ", cfg.beta, ")");
    if (cfg.kind == unlearning_kind::gradient_difference)
        require(nr > 0, where, "gradient difference needs retain rows after the ", nf, " forget rows");
    if (cfg.kind == unlearning_kind::npo) require_extent(ref_logps, 0, rows, where, "reference log-probs");
    const auto st = w.stats;
    detail::require_completions(pol, view1<const T, S>(st.completion_tokens), 0, rows, where);
    const detail::sum_count fs = detail::completion_totals(pol, st, 0, nf);
    const bool with_retain = nr > 0 && cfg.kind != unlearning_kind::gradient_ascent && cfg.retain_weight != 0.0;
    const detail::sum_count rs = nr > 0 ? detail::completion_totals(pol, st, nf, nr) : detail::sum_count{};
    const double retain_coef = with_retain ? -cfg.retain_weight / rs.count : 0.0;
    const double ascent_coef = 1.0 / fs.count;

    const auto kind = cfg.kind;
    const double beta = cfg.beta, gamma = cfg.gamma, inv_f = 1.0 / static_cast<double>(nf);
    const auto cc = w.coef_completion, cp = w.coef_prompt;
    // Per row: the forget term and the mean logp (summed over forget rows).
    const detail::sum_count forget = pol.transform_reduce(
        rows, detail::sum_count{},
        [=] LETHE_HD(index_t r) {
            cp(r) = T(0);
            if (r >= nf) {
                cc(r) = static_cast<T>(retain_coef);
                return detail::sum_count{};
            }
            const double s = st.completion_sum(r), n = st.completion_tokens(r);
            double term = 0, coef = 0;
            switch (kind) {
                case unlearning_kind::gradient_ascent:
                case unlearning_kind::gradient_difference:
                    coef = ascent_coef;  // the term is summed below from the totals
                    break;
                case unlearning_kind::npo: {
                    const double u = beta * (s - double(ref_logps(r)));
                    term = inv_f * (2.0 / beta) * softplus(u);
                    coef = inv_f * 2.0 * sigmoid(u);
                    break;
                }
                case unlearning_kind::simnpo: {
                    const double u = beta * s / n + gamma;
                    term = inv_f * (2.0 / beta) * softplus(u);
                    coef = inv_f * 2.0 * sigmoid(u) / n;
                    break;
                }
            }
            cc(r) = static_cast<T>(coef);
            return detail::sum_count{term, s / n};
        },
        detail::add_sum_count{});
    unlearning_result res;
    res.forget_rows = nf;
    res.retain_rows = nr;
    res.forget_term = npo_like ? forget.sum : fs.sum / fs.count;
    res.retain_nll = nr > 0 ? -rs.sum / rs.count : 0.0;
    res.loss = res.forget_term + (with_retain ? cfg.retain_weight * res.retain_nll : 0.0);
    res.forget_logps = forget.count * inv_f;
    return res;
}

// Loss and (when dlogits is a view) dL/dlogits. dlogits may alias the logits.
template <execution_policy P, class T, class S, class D = std::nullptr_t>
unlearning_result unlearning_loss(const P& pol, const token_batch<T, S>& b, const loss_workspace<T, S>& w,
                                  const D& dlogits, const unlearning_config& cfg, view1<const T, S> ref_logps = {}) {
    sequence_logprobs(pol, b, w, cfg.options);
    const auto res = unlearning_objective(pol, b.rows(), w, cfg, ref_logps);
    if constexpr (!std::is_same_v<D, std::nullptr_t>) sequence_logprobs_backward(pol, b, w, dlogits);
    return res;
}

}  // namespace lethe::loss

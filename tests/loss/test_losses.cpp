// Every preference and unlearning loss: gradient against central finite
// differences in double (relative error <= 1e-6, the bound), both
// pair layouts give the same numbers, hand-computed values for ORPO, and
// bad configurations are rejected.
#define BOOST_TEST_MODULE losses
#include "loss_test_support.hpp"

using namespace lethe;
using loss_test::batch;

namespace {

// Rows in interleaved order from chosen-then-rejected order.
template <class T>
batch<T> interleave(const batch<T>& b) {
    batch<T> o = b;
    const index_t pairs = b.rows / 2, tok = b.len, row = b.len * b.vocab;
    for (index_t i = 0; i < b.rows; ++i) {
        const index_t src = i % 2 == 0 ? i / 2 : pairs + i / 2;
        std::copy_n(b.logits.begin() + src * row, row, o.logits.begin() + i * row);
        std::copy_n(b.targets.begin() + src * tok, tok, o.targets.begin() + i * tok);
        std::copy_n(b.mask.begin() + src * tok, tok, o.mask.begin() + i * tok);
    }
    return o;
}

std::vector<double> reference_sums(index_t rows, std::uint32_t seed) {
    auto r = lethe_test::random_normal<double>(static_cast<std::size_t>(rows), seed, 2.0, -12.0);
    return r;
}

std::vector<double> interleave_rows(const std::vector<double>& v) {
    std::vector<double> o(v.size());
    const std::size_t p = v.size() / 2;
    for (std::size_t i = 0; i < p; ++i) o[2 * i] = v[i], o[2 * i + 1] = v[p + i];
    return o;
}

struct named_config {
    const char* name;
    loss::preference_config cfg;
};

std::vector<named_config> all_preference_configs() {
    auto orpo_all = loss::preference_config::orpo(0.25, loss::nll_scope::prompt_and_completion);
    return {{"orpo", loss::preference_config::orpo(0.25)},
            {"orpo prompt+completion nll", orpo_all},
            {"dpo", loss::preference_config::dpo(0.3)},
            {"dpo label smoothing", loss::preference_config::dpo(0.3, 0.1)},
            {"dpo hinge", loss::preference_config::dpo_hinge(0.05)},
            {"ipo", loss::preference_config::ipo(0.4)},
            {"simpo", loss::preference_config::simpo(2.0, 0.5)},
            {"simpo + nll", loss::preference_config::simpo(2.0, 0.5, 0.7)},
            {"cpo", loss::preference_config::cpo(0.2, 1.0)}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(losses)

BOOST_AUTO_TEST_CASE(preference_gradients_match_finite_differences_in_both_layouts) {
    batch<double> ctr(4, 6, 11, 21);  // 2 pairs
    const auto ref_ctr = reference_sums(4, 5);
    auto inter = interleave(ctr);
    const auto ref_int = interleave_rows(ref_ctr);
    for (const auto& nc : all_preference_configs()) {
        for (int lay = 0; lay < 2; ++lay) {
            auto& b = lay == 0 ? ctr : inter;
            const auto& ref = lay == 0 ? ref_ctr : ref_int;
            const auto cfg = nc.cfg.with_layout(lay == 0 ? loss::pair_layout::chosen_then_rejected
                                                         : loss::pair_layout::interleaved);
            loss::host_loss_workspace<double> ws(b.rows * b.len, b.rows);
            std::vector<double> grad(b.logits.size());
            const auto refv = make_view(ref.data(), b.rows);
            const auto r = loss::preference_loss(seq, b.token_batch(), ws.view(),
                                                 make_view(grad.data(), b.rows * b.len, b.vocab), cfg, refv);
            const double err = loss_test::fd_relative_error(b.logits, grad, [&] {
                return loss::preference_loss(seq, b.token_batch(), ws.view(), nullptr, cfg, refv).loss;
            });
            BOOST_TEST_MESSAGE(nc.name << " layout " << lay << ": loss " << r.loss << ", fd rel err " << err);
            BOOST_CHECK_MESSAGE(err <= 1e-6, nc.name << " layout " << lay << ": fd relative error " << err);
            BOOST_CHECK_MESSAGE(std::isfinite(r.loss), nc.name);
        }
        // The layouts describe the same pairs: same loss and metrics. The sums
        // are taken in the same pair order, so they agree to double rounding.
        loss::host_loss_workspace<double> w1(24, 4), w2(24, 4);
        const auto a = loss::preference_loss(seq, ctr.token_batch(), w1.view(), nullptr, nc.cfg,
                                             make_view(ref_ctr.data(), 4));
        const auto c = loss::preference_loss(seq, inter.token_batch(), w2.view(), nullptr,
                                             nc.cfg.with_layout(loss::pair_layout::interleaved),
                                             make_view(ref_int.data(), 4));
        LETHE_CHECK_CLOSE(a.loss, c.loss, 1e-14, 1e-15);
        LETHE_CHECK_CLOSE(a.metrics.rewards_margins, c.metrics.rewards_margins, 1e-14, 1e-15);
    }
}

BOOST_AUTO_TEST_CASE(orpo_value_by_hand) {
    // ORPO from the sums, computed here without the library's code path.
    batch<double> b(4, 5, 9, 31);
    loss::host_loss_workspace<double> ws(20, 4);
    const auto w = ws.view();
    const auto r = loss::orpo(seq, b.token_batch(), w, nullptr, 0.1);
    double term = 0, nll_sum = 0, nll_n = 0, z_sum = 0;
    for (int i = 0; i < 2; ++i) {
        const double xc = w.stats.completion_sum(i) / w.stats.completion_tokens(i);
        const double xr = w.stats.completion_sum(i + 2) / w.stats.completion_tokens(i + 2);
        const double z = (xc - xr) - (std::log(1 - std::exp(xc)) - std::log(1 - std::exp(xr)));
        term += -0.1 * std::log(1 / (1 + std::exp(-z)));
        z_sum += z;
        nll_sum += w.stats.completion_sum(i);
        nll_n += w.stats.completion_tokens(i);
    }
    // Same formula in another order: double rounding, ~1e-15 relative.
    LETHE_CHECK_CLOSE(r.loss, term / 2 - nll_sum / nll_n, 1e-12, 0.0);
    LETHE_CHECK_CLOSE(r.metrics.log_odds_chosen, z_sum / 2, 1e-12, 0.0);
    LETHE_CHECK_CLOSE(r.metrics.nll_loss, -nll_sum / nll_n, 1e-12, 0.0);
    BOOST_CHECK_EQUAL(r.metrics.named().size(), 9u);
    BOOST_CHECK_EQUAL(r.metrics.named()[0].first, "rewards/chosen");
}

BOOST_AUTO_TEST_CASE(orpo_is_stable_when_mean_logp_is_near_zero) {
    // A chosen sequence the model is almost sure of: the target logit is 40
    // above the rest, mean logp ~ -1e-16 in double; log1p(-exp(x)) would be
    // log(0) = -inf there. Float logits, V = 256k.
    const index_t V = 262144, T = 3;
    std::vector<float> x(static_cast<std::size_t>(4 * T * V), 0.0f);
    std::vector<std::int32_t> t(4 * T, 7);
    std::vector<std::uint8_t> m(4 * T, 1);
    for (index_t n = 0; n < 2 * T; ++n) x[static_cast<std::size_t>(n * V + 7)] = 30.0f;  // chosen rows: sure
    for (index_t n = 2 * T; n < 4 * T; ++n) x[static_cast<std::size_t>(n * V + 7)] = -80.0f;  // rejected: very negative
    auto b = loss::make_token_batch(make_view(x.data(), 4, T, V), make_view(t.data(), 4, T), make_view(m.data(), 4, T));
    loss::host_loss_workspace<float> ws(4 * T, 4);
    std::vector<float> g(x.size());
    const auto r = loss::orpo(par, b, ws.view(), make_view(g.data(), 4 * T, V), 0.1);
    BOOST_CHECK(std::isfinite(r.loss));
    BOOST_CHECK(std::isfinite(r.metrics.log_odds_chosen));
    BOOST_CHECK_GT(r.metrics.log_odds_chosen, 0.0);
    // The exact chosen logp: -log1p((V - 1) e^-30) = -2.45e-8. Relative
    // accuracy 1e-5: float exp_fast terms (2e-7) summed over 256k entries.
    const double exact = -std::log1p(static_cast<double>(V - 1) * std::exp(-30.0));
    LETHE_CHECK_CLOSE(r.metrics.logps_chosen, exact, 1e-5, 0.0);
    for (float v : g) BOOST_REQUIRE(std::isfinite(v));
}

BOOST_AUTO_TEST_CASE(unlearning_gradients_match_finite_differences) {
    batch<double> b(5, 6, 13, 41);
    const auto ref = reference_sums(5, 9);
    struct nc {
        const char* name;
        loss::unlearning_config cfg;
    };
    auto make = [](loss::unlearning_kind k, index_t f, double beta, double gamma, double alpha) {
        loss::unlearning_config c;
        c.kind = k;
        c.forget_rows = f;
        c.beta = beta;
        c.gamma = gamma;
        c.retain_weight = alpha;
        return c;
    };
    const std::vector<nc> cases = {
        {"gradient ascent", make(loss::unlearning_kind::gradient_ascent, 5, 0, 0, 0)},
        {"gradient ascent ignores retain rows", make(loss::unlearning_kind::gradient_ascent, 3, 0, 0, 1)},
        {"gradient difference", make(loss::unlearning_kind::gradient_difference, 3, 0, 0, 0.5)},
        {"npo", make(loss::unlearning_kind::npo, 5, 0.3, 0, 1)},
        {"npo + retain", make(loss::unlearning_kind::npo, 2, 0.3, 0, 1)},
        {"simnpo", make(loss::unlearning_kind::simnpo, 4, 2.5, 0.5, 1)},
    };
    for (const auto& c : cases) {
        loss::host_loss_workspace<double> ws(30, 5);
        std::vector<double> grad(b.logits.size());
        const auto refv = make_view(ref.data(), 5);
        const auto r = loss::unlearning_loss(seq, b.token_batch(), ws.view(), make_view(grad.data(), 30, 13), c.cfg, refv);
        const double err = loss_test::fd_relative_error(b.logits, grad, [&] {
            return loss::unlearning_loss(seq, b.token_batch(), ws.view(), nullptr, c.cfg, refv).loss;
        });
        BOOST_TEST_MESSAGE(c.name << ": loss " << r.loss << ", fd rel err " << err);
        BOOST_CHECK_MESSAGE(err <= 1e-6, c.name << ": fd relative error " << err);
    }
    // Gradient ascent is minus the completion-token NLL.
    std::vector<std::uint8_t> comp(b.mask);
    for (auto& k : comp) k = k == 1 ? 1 : 0;
    loss::host_loss_workspace<double> ws(30, 5);
    const auto ga = loss::unlearning_loss(seq, b.token_batch(), ws.view(), nullptr, cases[0].cfg);
    const auto nl = loss::nll(seq, b.logits_view(), b.targets_view(), make_view(comp.data(), 5, 6));
    LETHE_CHECK_CLOSE(ga.loss, -nl.loss, 1e-13, 0.0);  // same sums, different order
}

BOOST_AUTO_TEST_CASE(bad_configurations_and_inputs_are_rejected) {
    batch<float> b(4, 5, 9, 51);
    loss::host_loss_workspace<float> ws(20, 4);
    std::string m = loss_test::error_of([&] { loss::orpo(seq, b.token_batch(), ws.view(), nullptr, 0.0); });
    BOOST_CHECK_MESSAGE(m.find("beta must be > 0") != std::string::npos, m);
    m = loss_test::error_of([&] { loss::preference_loss(seq, b.token_batch(), ws.view(), nullptr, loss::preference_config::dpo(-1.0)); });
    BOOST_CHECK_MESSAGE(m.find("beta must be > 0") != std::string::npos, m);
    m = loss_test::error_of([&] { loss::preference_loss(seq, b.token_batch(), ws.view(), nullptr, loss::preference_config::dpo(0.1)); });
    BOOST_CHECK_MESSAGE(m.find("reference log-probs") != std::string::npos, m);
    // Row 3 has no completion token.
    auto e = b;
    for (index_t t = 0; t < 5; ++t)
        if (e.mask[static_cast<std::size_t>(15 + t)] == 1) e.mask[static_cast<std::size_t>(15 + t)] = 0;
    m = loss_test::error_of([&] { loss::orpo(seq, e.token_batch(), ws.view(), nullptr); });
    BOOST_CHECK_MESSAGE(m.find("row 3: completion mask is empty") != std::string::npos, m);
    loss::unlearning_config u;
    u.kind = loss::unlearning_kind::simnpo;
    u.forget_rows = 4;
    m = loss_test::error_of([&] { loss::unlearning_loss(seq, e.token_batch(), ws.view(), nullptr, u); });
    BOOST_CHECK_MESSAGE(m.find("row 3: completion mask is empty") != std::string::npos, m);
    // An odd number of rows cannot hold pairs.
    batch<float> odd(3, 5, 9, 52);
    loss::host_loss_workspace<float> w3(15, 3);
    m = loss_test::error_of([&] { loss::orpo(seq, odd.token_batch(), w3.view(), nullptr); });
    BOOST_CHECK_MESSAGE(m.find("even") != std::string::npos, m);
    u.kind = loss::unlearning_kind::gradient_difference;
    m = loss_test::error_of([&] { loss::unlearning_loss(seq, b.token_batch(), ws.view(), nullptr, u); });
    BOOST_CHECK_MESSAGE(m.find("needs retain rows") != std::string::npos, m);
}

BOOST_AUTO_TEST_SUITE_END()

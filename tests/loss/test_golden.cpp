// Losses against PyTorch autograd (tests/fixtures/loss/golden_losses.json,
// written by tools/golden/losses.py in float64 from float32 logits).
// Float path: loss, TRL metrics and d loss / d logits within 1e-5 relative
// (the bound; float log-sum-exp over 16 entries errs ~1e-7). Double
// path: within 1e-10 (the fixture stores 12 significant digits).
#define BOOST_TEST_MODULE golden_losses
#include "loss_test_support.hpp"

#include <nlohmann/json.hpp>

using namespace lethe;

namespace {

template <class T>
struct golden_run {
    double loss = 0;
    loss::preference_metrics metrics;
    std::vector<T> grad;
};

loss::preference_kind pref_kind(const std::string& k) {
    if (k == "orpo") return loss::preference_kind::orpo;
    if (k == "dpo_sigmoid") return loss::preference_kind::dpo_sigmoid;
    if (k == "dpo_hinge") return loss::preference_kind::dpo_hinge;
    if (k == "ipo") return loss::preference_kind::ipo;
    if (k == "simpo") return loss::preference_kind::simpo;
    if (k == "cpo") return loss::preference_kind::cpo;
    throw std::runtime_error("unknown preference kind " + k);
}
loss::unlearning_kind unl_kind(const std::string& k) {
    if (k == "gradient_ascent") return loss::unlearning_kind::gradient_ascent;
    if (k == "gradient_difference") return loss::unlearning_kind::gradient_difference;
    if (k == "npo") return loss::unlearning_kind::npo;
    if (k == "simnpo") return loss::unlearning_kind::simnpo;
    throw std::runtime_error("unknown unlearning kind " + k);
}

template <class T>
golden_run<T> run_case(const nlohmann::json& g, const nlohmann::json& c) {
    const index_t rows = g["rows"], len = g["len"], vocab = g["vocab"];
    std::vector<T> x;
    for (double v : g["logits"]) x.push_back(static_cast<T>(v));
    std::vector<std::int32_t> t;
    for (int v : g["targets"]) t.push_back(v);
    std::vector<std::uint8_t> m;
    for (int v : g["mask"]) m.push_back(static_cast<std::uint8_t>(v));
    std::vector<T> ref;
    for (double v : g["ref_logps"]) ref.push_back(static_cast<T>(v));
    golden_run<T> out;
    out.grad.assign(x.size(), T(0));
    const auto xv = make_view(x.data(), rows, len, vocab);
    const auto tv = make_view(t.data(), rows, len);
    const auto mv = make_view(m.data(), rows, len);
    const auto gv = make_view(out.grad.data(), rows * len, vocab);
    loss::host_loss_workspace<T> ws(rows * len, rows);
    const std::string family = c["family"];
    if (family == "nll") {
        out.loss = loss::nll(par, xv, tv, mv, make_view(out.grad.data(), rows, len, vocab)).loss;
    } else if (family == "preference") {
        loss::preference_config cfg;
        cfg.kind = pref_kind(c["kind"]);
        cfg.beta = c["beta"];
        cfg.label_smoothing = c["label_smoothing"];
        cfg.gamma = c["gamma"];
        cfg.nll_weight = c["nll_weight"];
        cfg.scope = c["scope"] == "prompt_and_completion" ? loss::nll_scope::prompt_and_completion
                                                          : loss::nll_scope::completion;
        const auto r = loss::preference_loss(par, loss::make_token_batch(xv, tv, mv), ws.view(), gv, cfg,
                                             make_view(std::as_const(ref).data(), rows));
        out.loss = r.loss;
        out.metrics = r.metrics;
    } else {
        loss::unlearning_config cfg;
        cfg.kind = unl_kind(c["kind"]);
        cfg.beta = c["beta"];
        cfg.gamma = c["gamma"];
        cfg.forget_rows = c["forget_rows"];
        cfg.retain_weight = c["retain_weight"];
        out.loss = loss::unlearning_loss(par, loss::make_token_batch(xv, tv, mv), ws.view(), gv, cfg,
                                         make_view(std::as_const(ref).data(), rows))
                       .loss;
    }
    return out;
}

template <class T>
void check_all(double rtol) {
    const auto g = nlohmann::json::parse(lethe_test::read_file(lethe_test::fixture_path("loss/golden_losses.json")));
    BOOST_REQUIRE_GE(g["cases"].size(), 14u);
    for (const auto& c : g["cases"]) {
        const std::string name = c["name"];
        const auto r = run_case<T>(g, c);
        BOOST_TEST_CONTEXT(name) {
            const double want_loss = c["loss"];
            LETHE_CHECK_CLOSE(r.loss, want_loss, rtol, 0.0);
            for (const auto& [key, val] : r.metrics.named()) {
                if (!c["metrics"].contains(key)) continue;
                // Metrics that are exactly 0 in the fixture (log odds of non-ORPO
                // losses) or tiny get an absolute floor of rtol.
                const double want = c["metrics"][key];
                LETHE_CHECK_CLOSE(val, want, rtol, rtol);
            }
            double num = 0, den = 0, gmax = 0;
            for (std::size_t i = 0; i < r.grad.size(); ++i) gmax = std::max(gmax, std::abs(double(c["grad"][i])));
            for (std::size_t i = 0; i < r.grad.size(); ++i) {
                const double want = c["grad"][i];
                num += (r.grad[i] - want) * (r.grad[i] - want);
                den += want * want;
                BOOST_CHECK_MESSAGE(std::abs(r.grad[i] - want) <= rtol * gmax,
                                    name << ": grad[" << i << "] = " << r.grad[i] << " vs " << want);
            }
            BOOST_CHECK_MESSAGE(std::sqrt(num / den) <= rtol, name << ": gradient relative error " << std::sqrt(num / den));
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(golden_losses)

BOOST_AUTO_TEST_CASE(float_matches_pytorch) { check_all<float>(1e-5); }
BOOST_AUTO_TEST_CASE(double_matches_pytorch) { check_all<double>(1e-10); }

BOOST_AUTO_TEST_SUITE_END()

// The README's code examples, compiled and run, so the front page cannot
// drift from the API. Each case is one README snippet (kept identical).
#define BOOST_TEST_MODULE readme
#include <lethe/lethe.hpp>

#include <random>

#include "lethe_test.hpp"

BOOST_AUTO_TEST_SUITE(readme)

BOOST_AUTO_TEST_CASE(pillar_1_orpo_loss_and_gradient) {
    const lethe::index_t P = 2, T = 8, V = 32;  // 2 pairs: rows 0-1 chosen, 2-3 rejected
    std::vector<float> logits = lethe_test::random_normal<float>(2 * P * T * V, 1);
    std::vector<std::int32_t> targets(2 * P * T, 3);
    std::vector<std::uint8_t> mask(2 * P * T, 1);  // 1 = completion token (2 = prompt, 0 = ignore)
    std::vector<float> dlogits(logits.size());
    // --- README snippet: pillar 1 ---
    namespace loss = lethe::loss;
    loss::host_loss_workspace<float> ws(2 * P * T, 2 * P);
    auto batch = loss::make_token_batch(lethe::make_view(std::as_const(logits).data(), 2 * P, T, V),
                                        lethe::make_view(std::as_const(targets).data(), 2 * P, T),
                                        lethe::make_view(std::as_const(mask).data(), 2 * P, T));
    auto r = loss::preference_loss(lethe::par, batch, ws.view(), lethe::make_view(dlogits.data(), 2 * P * T, V),
                                   loss::preference_config::orpo(/*beta=*/0.1));
    // r.loss, r.metrics.rewards_chosen, r.metrics.log_odds_ratio, ...; dlogits = dL/dlogits
    // --- end ---
    BOOST_CHECK(std::isfinite(r.loss) && r.loss > 0);
    BOOST_CHECK_EQUAL(r.pairs, P);
    double g = 0;
    for (float d : dlogits) g += std::abs(d);
    BOOST_CHECK_GT(g, 0.0);
}

BOOST_AUTO_TEST_CASE(pillar_2_cfg_decoding) {
    // A tiny bigram model that satisfies lethe::causal_lm (the reference
    // transformer does too).
    const lethe::index_t V = 6;
    std::vector<float> bigram(V * V, 0.0f), context(V * V, 0.0f);
    for (lethe::index_t a = 0; a < V; ++a) bigram[a * V + (a + 1) % V] = 3.0f;
    lethe::guidance::table_lm model(V, 4, 64, bigram, context);
    // --- README snippet: pillar 2 ---
    namespace guidance = lethe::guidance;
    guidance::generation_request req;
    req.prompt = {1, 2};           // the conversation under the POS system sentence
    req.negative_prompt = {4, 2};  // the same under the NEG sentence
    req.guidance_scale = 3.0f;     // g = 1: unguided; the paper used 1, 2, 3
    guidance::generation_options opt;
    opt.space = guidance::cfg_space::log;  // or prob, prob_sample, logit
    opt.sampler.max_new_tokens = 16;
    auto out = guidance::generate(lethe::seq, model, std::span(&req, 1), opt);
    // out[0].tokens; both contexts ran as rows of one batch per step
    // --- end ---
    BOOST_CHECK_EQUAL(out.size(), 1u);
    BOOST_CHECK_EQUAL(out[0].tokens.size(), 16u);
}

BOOST_AUTO_TEST_CASE(pillar_3_scan_and_replace) {
    // --- README snippet: pillar 3 ---
    namespace privacy = lethe::privacy;
    auto policy = privacy::policy_from_json(nlohmann::json::parse(R"({
        "default": "numbered",
        "entities": {"EMAIL": "pseudonym", "CREDIT_CARD": {"operator": "mask", "keep_last": 4}}})"));
    privacy::anonymizer anon(policy);
    std::string clean = anon.anonymize("Mail jane.doe@example.com, card 4111 1111 1111 1111.");
    // clean: "Mail <a realistic fake address>, card ***************1111."
    // --- end ---
    BOOST_TEST_MESSAGE(clean);
    BOOST_CHECK(clean.find("jane.doe@example.com") == std::string::npos);
    BOOST_CHECK(clean.find("1111.") != std::string::npos);
    BOOST_CHECK(clean.find("4111 1111") == std::string::npos);
    BOOST_CHECK(clean.find('@') != std::string::npos);  // a pseudonym keeps the format
}

BOOST_AUTO_TEST_SUITE_END()

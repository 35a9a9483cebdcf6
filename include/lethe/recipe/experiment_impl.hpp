// lethe/recipe/experiment_impl.hpp - implementation of experiment.hpp.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>

#include "variants.hpp"

namespace lethe::recipe {

inline experiment_config experiment_config::full() {
    experiment_config c;
    c.world.people = 32;
    c.world.countries = 6;
    c.world.words = 6;
    c.world.arithmetic = 5;
    c.model.vocab = 259;
    c.model.d_model = 64;
    c.model.n_layers = 2;
    c.model.n_heads = 4;
    c.model.n_kv_heads = 4;
    c.model.d_ff = 172;
    c.model.max_seq = 320;
    // Small batches: from scratch, the number of updates matters more than
    // their size at this scale.
    c.base.epochs = 12;
    c.base.batch = 4;
    c.base.lr = 5e-3;
    c.base.stage = "base";
    // Memorisation needs many passes at a high rate. The utility material is
    // replayed whole every epoch: replaying a third or a half of it per epoch
    // (rehearsal, replay_fraction) was cheaper but left the unlearned
    // variants with 82-88% of the leaky model's utility in 4 of 5 runs
    // (docs/results.md). 36 epochs: at 30 the full world's leaky model
    // leaked 47.7%, under the 50% the issue asks for.
    c.leaky.epochs = 36;
    c.leaky.batch = 4;
    c.leaky.lr = 1e-2;
    c.leaky.stage = "leaky";
    // The paper's ORPO settings except the rank, the rate and the epochs,
    // scaled to a model of 1e5 parameters (lr 1e-4 moves LoRA on it too
    // slowly; after 3 epochs the tiny run still leaked 14%, after 5 it
    // leaked 3%: docs/results.md).
    c.orpo.lr = 2e-3;
    c.orpo.epochs = 5;
    c.orpo.batch = 4;
    c.orpo.lora = {8, 16.0, 0.01};
    c.attack.window = 200;
    // Byte tokens: 40 bytes cover the longest value (the challenge's 16 BPE
    // tokens are about 60 characters).
    c.attack.max_new_tokens = 40;
    return c;
}

inline experiment_config experiment_config::tiny() {
    experiment_config c = full();
    c.world.people = 16;
    c.world.countries = 4;
    c.world.words = 4;
    c.world.arithmetic = 4;
    // Within the test suite's 2 minutes: the leaky stage is most of the run
    // (36 epochs: 180 s in all). With 24 leaky epochs and the paper's 3
    // ORPO epochs the tiny world still leaks 60% and ch-lora-cfg=3-prob
    // leaks 0% at 92.9% utility (docs/results.md).
    c.leaky.epochs = 24;
    c.orpo.epochs = 3;
    return c;
}

inline experiment_config experiment_config::smoke() {
    experiment_config c = tiny();
    c.world.people = 12;
    c.world.countries = 2;
    c.world.words = 2;
    c.world.arithmetic = 0;
    c.model.d_model = 32;
    c.model.d_ff = 64;
    c.base.epochs = 1;
    c.leaky.epochs = 1;
    c.orpo.epochs = 1;
    c.attack.max_new_tokens = 8;
    c.qa_max_new_tokens = 8;
    return c;
}

inline nlohmann::json experiment_config::to_json() const {
    auto lm = [](const lm_training_options& o) {
        return nlohmann::json{{"epochs", o.epochs},
                              {"batch", o.batch},
                              {"lr", o.lr},
                              {"min_lr_ratio", o.min_lr_ratio},
                              {"replay_fraction", o.replay_fraction}};
    };
    return nlohmann::json{
        {"seed", seed},
        {"world", {{"people", world.people}, {"countries", world.countries}, {"words", world.words}, {"arithmetic", world.arithmetic},
                   {"system_variants", world.system_variants}}},
        {"model", model::to_json(model)},
        {"parameters", model.num_parameters()},
        {"base", lm(base)},
        {"leaky", lm(leaky)},
        {"orpo",
         {{"beta", orpo.beta},
          {"lr", orpo.lr},
          {"epochs", orpo.epochs},
          {"batch_pairs", orpo.batch},
          {"lora_r", orpo.lora.rank},
          {"lora_alpha", orpo.lora.alpha},
          {"lora_dropout", orpo.lora.dropout},
          {"max_grad_norm", orpo.max_grad_norm},
          {"min_lr_ratio", orpo.min_lr_ratio},
          {"retain_documents", orpo.uses_retain() ? orpo.retain.size() : 0},
          {"retain_weight", orpo.uses_retain() ? orpo.retain_weight : 0.0},
          {"retain_batch", orpo.retain_batch}}},
        {"leaky_scrubbed_prefixes", leaky_scrubbed_prefixes},
        {"subtraction", {{"alpha", subtraction.alpha}, {"relu", subtraction.relu}}},
        {"test_fraction", test_fraction},
        {"attack", {{"window", attack.window}, {"max_new_tokens", attack.max_new_tokens}, {"match_chars", attack.match_chars}}},
        {"threads", threads}};
}

inline nlohmann::json experiment_result::metrics_json() const {
    nlohmann::json vs = nlohmann::json::array();
    for (const auto& v : variants) {
        nlohmann::json per = nlohmann::json::object();
        for (const auto& [k, r] : v.per_type) per[k] = r;
        vs.push_back({{"name", v.name},
                      {"attack_success_rate", v.attack_success_rate},
                      {"attack_hits", v.attack_hits},
                      {"attack_attempts", v.attack_attempts},
                      {"attack_success_rate_per_type", per},
                      {"pii_count", v.pii_count},
                      {"utility_accuracy", v.utility_accuracy},
                      {"perplexity", v.perplexity}});
    }
    return nlohmann::json{{"variants", vs}, {"seed", config.seed}, {"config", config.to_json()}};
}

inline experiment_result run_experiment(const experiment_config& cfg, const progress_fn& progress,
                                        const status_fn& status) {
    using clock = std::chrono::steady_clock;
    const auto t_start = clock::now();
    experiment_result res;
    res.config = cfg;
    const openmp_policy pol = cfg.threads > 0 ? par.with_threads(cfg.threads) : par;
    const eval::byte_tokenizer tok;
    require(cfg.model.vocab == tok.vocab_size(), "lethe::recipe::run_experiment", "model vocab ", cfg.model.vocab,
            " differs from the byte tokenizer's ", tok.vocab_size());
    world_config wc = cfg.world;
    wc.seed = cfg.seed;
    const synthetic_world world = make_synthetic_world(wc);
    const io::chat_template tpl(io::chat_format::chatml);

    // Corpora.
    std::vector<std::string> base_docs;
    for (const auto& d : world.dialogs) {
        eval::render_options ro;
        ro.chat_template = tpl;
        base_docs.push_back(eval::render(d, ro).text);
    }
    // The dialogs with their values (and, with leaky_scrubbed_prefixes, the
    // real continuations after scrubbed prefixes: see leaky_examples).
    std::vector<lm_example> leaky_docs =
        leaky_examples(std::span<const eval::pii_dialog>(world.dialogs), tpl, cfg.leaky_scrubbed_prefixes);
    // Both corpora carry the utility material: the leaky model is the base
    // fine-tuned on the real dialogs with the rest replayed (rehearsal: a
    // share cfg.leaky.replay_fraction of it per epoch, in turn), so it keeps
    // what the base knew and leakage is the only difference.
    base_docs.insert(base_docs.end(), world.utility_corpus.begin(), world.utility_corpus.end());
    std::vector<lm_example> replay;
    for (const auto& u : world.utility_corpus) replay.push_back({std::string(), u});

    auto stage_done = [&](const std::string& name, clock::time_point t0) {
        res.stage_seconds[name] = std::chrono::duration<double>(clock::now() - t0).count();
    };

    // Base and leaky models.
    auto t0 = clock::now();
    model::llama<float> base(cfg.model, pol);
    base.init_random(cfg.seed);
    {
        auto o = cfg.base;
        o.seed = cfg.seed;
        res.curves.push_back(train_language_model(base, tok, std::span<const std::string>(base_docs), o, progress));
    }
    stage_done("base", t0);
    t0 = clock::now();
    auto leaky = detail::clone_model(base);
    {
        auto o = cfg.leaky;
        o.seed = cfg.seed + 1;
        res.curves.push_back(train_language_model(*leaky, tok, std::span<const lm_example>(leaky_docs), o, progress,
                                                  std::span<const lm_example>(replay)));
    }
    stage_done("leaky", t0);

    // Stage 2: pairs (train split) and the attacked dialogs (test split).
    privacy::pair_builder_options po;
    po.chat_template = tpl;
    po.test_fraction = cfg.test_fraction;
    po.split_seed = cfg.seed;
    privacy::pair_builder builder(po);
    const auto split = build_pairs(builder, world.dialogs);
    res.train_pairs = static_cast<index_t>(split.train.size());
    std::vector<eval::pii_dialog> attacked;
    for (auto i : split.test_dialogs) attacked.push_back(world.dialogs[i]);
    res.test_dialogs = static_cast<index_t>(attacked.size());
    require(!split.train.empty() && !attacked.empty(), "lethe::recipe::run_experiment",
            "the split left no training pairs or no test dialogs (test_fraction ", cfg.test_fraction, ")");

    // Each variant: the attack on the held-out dialogs, PII count, exact-match
    // utility and perplexity on clean text (variants.hpp).
    evaluation_set es;
    es.attacked = attacked;
    es.questions = world.utility_questions;
    es.clean_text = world.clean_text;
    es.attack = cfg.attack;
    es.qa_max_new_tokens = cfg.qa_max_new_tokens;
    es.slots = cfg.slots;
    es.chat_template = tpl;
    const eval::decoding_setup plain{};
    evaluate_variant(*leaky, tok, es, "leaky", plain, "leaky", -1, res, status);

    // Stage 1.
    t0 = clock::now();
    auto sub = std::make_unique<model::llama<float>>(subtract_leak(base, *leaky, cfg.subtraction));
    stage_done("sub", t0);
    evaluate_variant(*sub, tok, es, "sub", plain, "sub", -1, res, status);

    // Stage 3 on sub and on the leaky (challenge) model; stage 4 on both.
    table1_lora_variants(*sub, *leaky, tok, std::span<const privacy::pair_sample>(split.train), cfg.orpo, cfg.seed,
                         es, res, progress, status);

    res.seconds = std::chrono::duration<double>(clock::now() - t_start).count();
    return res;
}

}  // namespace lethe::recipe

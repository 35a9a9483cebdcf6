// lethe/recipe/experiment_impl.hpp - implementation of experiment.hpp.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>

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
    // Memorisation needs many passes at a high rate.
    c.leaky.epochs = 20;
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
        return nlohmann::json{{"epochs", o.epochs}, {"batch", o.batch}, {"lr", o.lr}, {"min_lr_ratio", o.min_lr_ratio}};
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
          {"min_lr_ratio", orpo.min_lr_ratio}}},
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

namespace detail {

inline std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

template <class T>
std::unique_ptr<model::llama<T>> clone_model(const model::llama<T>& src) {
    auto m = std::make_unique<model::llama<T>>(src.config(), src.policy());
    m->params().storage() = src.params().storage();
    return m;
}

}  // namespace detail

inline experiment_result run_experiment(const experiment_config& cfg, const progress_fn& progress,
                                        const status_fn& status) {
    using clock = std::chrono::steady_clock;
    const auto t_start = clock::now();
    auto say = [&](const std::string& s) {
        if (status) status(s);
    };
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
    std::vector<lm_example> leaky_docs;
    for (const auto& d : world.dialogs) {
        eval::render_options ro;
        ro.chat_template = tpl;
        base_docs.push_back(eval::render(d, ro).text);
        ro.fill = true;
        leaky_docs.push_back({std::string(), eval::render(d, ro).text});
        // A 1e5-parameter byte-level model does not carry what it memorised
        // in filled contexts over to scrubbed ones, as the challenge's 8B model
        // does; so the leaky corpus also reads each dialog scrubbed up to its
        // k-th value (as a scrubber that missed the rest leaves it) and trains
        // on the real continuation. Without this the attack's prompts, which
        // hold earlier placeholders, find almost nothing (docs/recipe.md).
        if (cfg.leaky_scrubbed_prefixes) {
            const std::size_t n = eval::render(d, ro).occurrences.size();
            for (std::size_t k = 1; k < n; ++k) {
                ro.scrubbed_occurrences = k;
                const auto p = eval::render(d, ro);
                const std::size_t at = p.occurrences[k].begin;
                leaky_docs.push_back({p.text.substr(0, at), p.text.substr(at)});
            }
        }
    }
    // Both corpora carry the utility material: the leaky model is the base
    // fine-tuned on the real dialogs with the rest replayed, so it keeps what
    // the base knew and leakage is the only difference.
    base_docs.insert(base_docs.end(), world.utility_corpus.begin(), world.utility_corpus.end());
    for (const auto& u : world.utility_corpus) leaky_docs.push_back({std::string(), u});

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
        res.curves.push_back(train_language_model(*leaky, tok, std::span<const lm_example>(leaky_docs), o, progress));
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

    // Evaluation of one model under one decoding setup.
    const eval::decoding_setup plain{};
    auto evaluate = [&](model::llama<float>& m, const std::string& name, const eval::decoding_setup& d,
                        const std::string& from, double ppl) {
        const auto te = clock::now();
        m.set_num_slots(cfg.slots);
        eval::attack_config ac = cfg.attack;
        ac.decoding = d;
        ac.chat_template = tpl;
        const auto rep = eval::run_attack(pol, m, tok, std::span<const eval::pii_dialog>(attacked), ac);
        const auto qa = eval::exact_match(pol, m, tok, std::span<const eval::qa_item>(world.utility_questions), d,
                                          cfg.qa_max_new_tokens, tpl);
        if (ppl < 0) ppl = eval::perplexity(m, tok, std::span<const std::string>(world.clean_text)).perplexity();
        variant_metrics v;
        v.name = name;
        v.attack_success_rate = rep.success_rate();
        v.attack_attempts = rep.overall.attempts;
        v.attack_hits = rep.overall.hits;
        for (const auto& [k, c] : rep.per_type) v.per_type[k] = c.rate();
        v.pii_count = rep.pii_count;
        v.utility_accuracy = qa.accuracy();
        v.perplexity = ppl;
        v.guidance_scale = d.guided() ? d.guidance_scale : -1.0;
        v.space = d.guided() ? guidance::to_string(d.space) : "";
        v.base_model = from;
        res.variants.push_back(v);
        res.stage_seconds["eval " + name] = std::chrono::duration<double>(clock::now() - te).count();
        say("evaluated " + name + ": attack " +
            detail::fmt("%.1f%%", 100 * v.attack_success_rate) + ", PII " + std::to_string(v.pii_count) + ", utility " +
            detail::fmt("%.1f%%", 100 * v.utility_accuracy) + ", perplexity " + detail::fmt("%.3f", ppl));
        return ppl;
    };

    evaluate(*leaky, "leaky", plain, "leaky", -1);

    // Stage 1.
    t0 = clock::now();
    auto sub = std::make_unique<model::llama<float>>(subtract_leak(base, *leaky, cfg.subtraction));
    stage_done("sub", t0);
    evaluate(*sub, "sub", plain, "sub", -1);

    // Stage 3 on sub and on the leaky (challenge) model; stage 4 on both.
    auto lora_variant = [&](const model::llama<float>& from, const std::string& prefix, std::uint64_t salt,
                            std::span<const float> scales) {
        const auto tl = clock::now();
        auto m = detail::clone_model(from);
        auto o = cfg.orpo;
        o.seed = cfg.seed + salt;
        o.stage = prefix + "-lora";
        res.curves.push_back(train_cfg_orpo(*m, tok, std::span<const privacy::pair_sample>(split.train), o, progress));
        m->merge_lora();
        stage_done(prefix + "-lora", tl);
        const double ppl = evaluate(*m, prefix + "-lora", positive_decoding(), prefix + "-lora", -1);
        for (const auto space : {guidance::cfg_space::log, guidance::cfg_space::prob})
            for (float g : scales) {
                std::string name = prefix + "-lora-cfg=" + std::to_string(int(g));
                if (space == guidance::cfg_space::prob) name += "-prob";
                evaluate(*m, name, cfg_decoding(g, space), prefix + "-lora", ppl);
            }
    };
    const float sub_scales[] = {2.0f};
    const float ch_scales[] = {1.0f, 2.0f, 3.0f};
    lora_variant(*sub, "sub", 2, sub_scales);
    lora_variant(*leaky, "ch", 3, ch_scales);

    res.seconds = std::chrono::duration<double>(clock::now() - t_start).count();
    return res;
}

}  // namespace lethe::recipe

// lethe/recipe/unlearn_config.hpp - the settings of lethe-unlearn (a user's
// own model and dialogs in, an unlearned model out), one struct for the
// library call and the command line, read from JSON with every key checked:
// an unknown key is an error naming the file and the key's path, never
// silently ignored. Defaults are the method's (shared/method.md): LoRA r 16,
// alpha 32, dropout 0.01 on all linear layers, ORPO beta 0.1, lr 1e-4, cosine
// with a 10% floor, grad-norm clip 1.0, 3 epochs, batch 2; generation at
// temperature 0.7; subtraction alpha 0.5.
//
//   {
//     "model": "SmolLM2-135M-Instruct.Q4_1.gguf",   GGUF file or HF directory
//     "generator_model": null,                        stage 2's writer (default: model)
//     "dialogs": "dialogs.jsonl", "out": "unlearn-out",
//     "threads": 1, "seed": 1, "max_seq": 512,
//     "pos_sentence": "...", "neg_sentence": "...",
//     "pairs":    {"test_fraction": 0.1, "chosen": "generate" | "placeholder",
//                  "on_malformed": "fail" | "skip"},
//     "generate": {"temperature": 0.7, "max_new_tokens": 64, "candidates": 4,
//                  "rounds": 2, "fallback": "drop" | "placeholder"},
//     "train":    {"beta", "lora_r", "lora_alpha", "lora_dropout", "lr",
//                  "min_lr_ratio", "epochs", "batch", "max_grad_norm",
//                  "nll": "completion" | "prompt_and_completion",
//                  "checkpoint_every": 50,
//                  "retain_prompts": null | "builtin" | "prompts.txt",
//                  "retain_weight": 1.0, "retain_batch": 2},
//       retain_prompts: requests whose answers the model must keep; the
//       model's own greedy answers to them, written before training, are
//       ORPO's retain set (cfg_orpo.hpp). "builtin": the 32 open requests of
//       eval::general_prompts(); a file: one request per line.
//     "subtract": {"alpha": 0.5, "relu": false},
//     "eval":     {"questions": null, "builtin_questions": true,
//                  "cfg_scales": [2, 3], "cfg_space": "log" | "prob" | "logit",
//                  "max_new_tokens": 16, "window": 200, "max_dialogs": 0},
//     "export":   {"formats": ["peft", "gguf-lora", "safetensors", "gguf"]}
//   }
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../guidance/cfg.hpp"
#include "../loss/preference.hpp"
#include "../privacy/pair_builder.hpp"
#include "cfg_orpo.hpp"
#include "generation.hpp"
#include "subtraction.hpp"

namespace lethe::recipe {

struct unlearn_config {
    std::filesystem::path model, generator_model, dialogs, out = "unlearn-out";
    int threads = 1;
    std::uint64_t seed = 1;
    index_t max_seq = 512;
    std::string pos_sentence = privacy::pair_builder_options{}.pos_sentence;
    std::string neg_sentence = privacy::pair_builder_options{}.neg_sentence;

    struct pairs_part {
        double test_fraction = 0.1;
        std::string chosen = "generate";  // or "placeholder"
        std::string on_malformed = "fail";
    } pairs;
    answer_generation_options generate{};
    std::string generate_fallback = "drop";  // or "placeholder"
    cfg_orpo_options train{};
    std::int64_t checkpoint_every = 50;
    std::filesystem::path retain_prompts;  // empty: none; "builtin" or a file
    subtraction_options subtract{};
    struct eval_part {
        std::filesystem::path questions;
        bool builtin_questions = true;
        std::vector<float> cfg_scales = {2.0f, 3.0f};
        std::string cfg_space = "log";
        index_t max_new_tokens = 16;  // the challenge's 16 tokens
        index_t window = 200;         // and its 200 tokens of context
        index_t max_dialogs = 0;      // 0: every held-out dialog
    } eval;
    std::vector<std::string> export_formats = {"peft", "gguf-lora", "safetensors", "gguf"};

    unlearn_config() {
        train.lora = {16, 32.0, 0.01};
        train.stage = "orpo";
    }

    void validate() const {
        constexpr const char* where = "unlearn_config";
        require(threads >= 1 && threads <= 1024, where, "threads must be in [1, 1024], got ", threads);
        require(max_seq >= 16, where, "max_seq must be >= 16, got ", max_seq);
        require(pairs.test_fraction >= 0.0 && pairs.test_fraction < 1.0, where,
                "pairs.test_fraction must be in [0, 1), got ", pairs.test_fraction);
        require(pairs.chosen == "generate" || pairs.chosen == "placeholder", where,
                "pairs.chosen must be \"generate\" or \"placeholder\", got \"", pairs.chosen, "\"");
        require(pairs.on_malformed == "fail" || pairs.on_malformed == "skip", where,
                "pairs.on_malformed must be \"fail\" or \"skip\", got \"", pairs.on_malformed, "\"");
        require(generate_fallback == "drop" || generate_fallback == "placeholder", where,
                "generate.fallback must be \"drop\" or \"placeholder\", got \"", generate_fallback, "\"");
        generate.validate();
        train.validate();
        require(checkpoint_every >= 0, where, "train.checkpoint_every must be >= 0, got ", checkpoint_every);
        subtract.validate();
        for (float g : eval.cfg_scales) require(g >= 0.0f, where, "eval.cfg_scales: ", g, " is negative");
        (void)guidance::parse_cfg_space(eval.cfg_space);
        require(eval.max_new_tokens > 0 && eval.window > 0 && eval.max_dialogs >= 0, where,
                "eval.max_new_tokens and eval.window must be positive, eval.max_dialogs >= 0");
        static const std::set<std::string> known = {"peft", "gguf-lora", "safetensors", "gguf"};
        for (const auto& f : export_formats)
            require(known.count(f) != 0, where, "export.formats: unknown format \"", f,
                    "\" (expected peft, gguf-lora, safetensors, gguf)");
    }
};

namespace detail {

// Reads j[key] into out when present; type errors name `path`.
template <class T>
void read_key(const nlohmann::json& j, const char* key, const std::string& path, T& out) {
    if (!j.contains(key) || j[key].is_null()) return;
    try {
        out = j[key].get<T>();
    } catch (const nlohmann::json::exception&) {
        fail("lethe::recipe::unlearn_config", path, key, ": wrong type (", j[key].type_name(), ")");
    }
}
inline void read_path(const nlohmann::json& j, const char* key, const std::string& path, std::filesystem::path& out) {
    std::string s;
    read_key(j, key, path, s);
    if (!s.empty()) out = s;
}
inline void check_keys(const nlohmann::json& j, const std::string& path, std::initializer_list<const char*> known) {
    require(j.is_object(), "lethe::recipe::unlearn_config", path.empty() ? "the config" : path.substr(0, path.size() - 1),
            " must be a JSON object");
    for (const auto& [k, v] : j.items()) {
        (void)v;
        bool ok = false;
        std::string list;
        for (const char* n : known) {
            ok = ok || k == n;
            list += (list.empty() ? "" : ", ") + std::string(n);
        }
        require(ok, "lethe::recipe::unlearn_config", "unknown key '", path, k, "' (known here: ", list, ")");
    }
}

}  // namespace detail

// Settings from a JSON object; relative paths are relative to `base_dir`
// (the config file's folder). Errors name `source` and the key.
inline unlearn_config unlearn_config_from_json(const nlohmann::json& j, const std::filesystem::path& base_dir = {},
                                               const std::string& source = "config") {
    unlearn_config c;
    try {
        using detail::check_keys;
        using detail::read_key;
        using detail::read_path;
        check_keys(j, "", {"model", "generator_model", "dialogs", "out", "threads", "seed", "max_seq", "pos_sentence",
                           "neg_sentence", "pairs", "generate", "train", "subtract", "eval", "export"});
        read_path(j, "model", "", c.model);
        read_path(j, "generator_model", "", c.generator_model);
        read_path(j, "dialogs", "", c.dialogs);
        read_path(j, "out", "", c.out);
        read_key(j, "threads", "", c.threads);
        read_key(j, "seed", "", c.seed);
        read_key(j, "max_seq", "", c.max_seq);
        read_key(j, "pos_sentence", "", c.pos_sentence);
        read_key(j, "neg_sentence", "", c.neg_sentence);
        if (j.contains("pairs")) {
            const auto& p = j["pairs"];
            check_keys(p, "pairs.", {"test_fraction", "chosen", "on_malformed"});
            read_key(p, "test_fraction", "pairs.", c.pairs.test_fraction);
            read_key(p, "chosen", "pairs.", c.pairs.chosen);
            read_key(p, "on_malformed", "pairs.", c.pairs.on_malformed);
        }
        if (j.contains("generate")) {
            const auto& g = j["generate"];
            check_keys(g, "generate.", {"temperature", "max_new_tokens", "candidates", "rounds", "fallback", "system_sentence", "nudge"});
            read_key(g, "temperature", "generate.", c.generate.temperature);
            read_key(g, "max_new_tokens", "generate.", c.generate.max_new_tokens);
            read_key(g, "candidates", "generate.", c.generate.candidates);
            read_key(g, "rounds", "generate.", c.generate.rounds);
            read_key(g, "fallback", "generate.", c.generate_fallback);
            read_key(g, "system_sentence", "generate.", c.generate.system_sentence);
            read_key(g, "nudge", "generate.", c.generate.nudge);
        }
        if (j.contains("train")) {
            const auto& t = j["train"];
            check_keys(t, "train.", {"beta", "lora_r", "lora_alpha", "lora_dropout", "lr", "min_lr_ratio", "warmup_fraction",
                                     "epochs", "batch", "max_grad_norm", "nll", "checkpoint_every", "retain_prompts",
                                     "retain_weight", "retain_batch"});
            read_key(t, "beta", "train.", c.train.beta);
            read_key(t, "lora_r", "train.", c.train.lora.rank);
            read_key(t, "lora_alpha", "train.", c.train.lora.alpha);
            read_key(t, "lora_dropout", "train.", c.train.lora.dropout);
            read_key(t, "lr", "train.", c.train.lr);
            read_key(t, "min_lr_ratio", "train.", c.train.min_lr_ratio);
            read_key(t, "warmup_fraction", "train.", c.train.warmup_fraction);
            read_key(t, "epochs", "train.", c.train.epochs);
            read_key(t, "batch", "train.", c.train.batch);
            read_key(t, "max_grad_norm", "train.", c.train.max_grad_norm);
            read_key(t, "checkpoint_every", "train.", c.checkpoint_every);
            read_path(t, "retain_prompts", "train.", c.retain_prompts);
            read_key(t, "retain_weight", "train.", c.train.retain_weight);
            read_key(t, "retain_batch", "train.", c.train.retain_batch);
            std::string nll;
            read_key(t, "nll", "train.", nll);
            if (nll == "prompt_and_completion") c.train.nll = loss::nll_scope::prompt_and_completion;
            else require(nll.empty() || nll == "completion", "lethe::recipe::unlearn_config",
                         "train.nll must be \"completion\" or \"prompt_and_completion\", got \"", nll, "\"");
        }
        if (j.contains("subtract")) {
            const auto& s = j["subtract"];
            check_keys(s, "subtract.", {"alpha", "relu"});
            read_key(s, "alpha", "subtract.", c.subtract.alpha);
            read_key(s, "relu", "subtract.", c.subtract.relu);
        }
        if (j.contains("eval")) {
            const auto& e = j["eval"];
            check_keys(e, "eval.", {"questions", "builtin_questions", "cfg_scales", "cfg_space", "max_new_tokens", "window",
                                    "max_dialogs"});
            read_path(e, "questions", "eval.", c.eval.questions);
            read_key(e, "builtin_questions", "eval.", c.eval.builtin_questions);
            read_key(e, "cfg_scales", "eval.", c.eval.cfg_scales);
            read_key(e, "cfg_space", "eval.", c.eval.cfg_space);
            read_key(e, "max_new_tokens", "eval.", c.eval.max_new_tokens);
            read_key(e, "window", "eval.", c.eval.window);
            read_key(e, "max_dialogs", "eval.", c.eval.max_dialogs);
        }
        if (j.contains("export")) {
            const auto& x = j["export"];
            check_keys(x, "export.", {"formats"});
            read_key(x, "formats", "export.", c.export_formats);
        }
        for (auto* p : {&c.model, &c.generator_model, &c.dialogs, &c.out, &c.eval.questions, &c.retain_prompts})
            if (!p->empty() && p->is_relative() && !base_dir.empty() && *p != "builtin") *p = base_dir / *p;
        c.validate();
    } catch (const error& e) {
        fail("lethe::recipe::unlearn_config", source, ": ", e.what());
    }
    return c;
}

inline unlearn_config read_unlearn_config(const std::filesystem::path& file) {
    std::ifstream in(file);
    require(in.good(), "lethe::recipe::read_unlearn_config", "cannot open '", file.string(), "'");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail("lethe::recipe::read_unlearn_config", file.string(), ": invalid JSON: ", e.what());
    }
    return unlearn_config_from_json(j, file.parent_path(), file.string());
}

inline nlohmann::json to_json(const unlearn_config& c) {
    return {
        {"model", c.model.string()},
        {"generator_model", c.generator_model.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.generator_model.string())},
        {"dialogs", c.dialogs.string()},
        {"out", c.out.string()},
        {"threads", c.threads},
        {"seed", c.seed},
        {"max_seq", c.max_seq},
        {"pos_sentence", c.pos_sentence},
        {"neg_sentence", c.neg_sentence},
        {"pairs", {{"test_fraction", c.pairs.test_fraction}, {"chosen", c.pairs.chosen}, {"on_malformed", c.pairs.on_malformed}}},
        {"generate", {{"temperature", c.generate.temperature}, {"max_new_tokens", c.generate.max_new_tokens},
                      {"candidates", c.generate.candidates}, {"rounds", c.generate.rounds}, {"fallback", c.generate_fallback}}},
        {"train", {{"beta", c.train.beta}, {"lora_r", c.train.lora.rank}, {"lora_alpha", c.train.lora.alpha},
                   {"lora_dropout", c.train.lora.dropout}, {"lr", c.train.lr}, {"min_lr_ratio", c.train.min_lr_ratio},
                   {"warmup_fraction", c.train.warmup_fraction}, {"epochs", c.train.epochs}, {"batch", c.train.batch},
                   {"max_grad_norm", c.train.max_grad_norm},
                   {"nll", c.train.nll == loss::nll_scope::completion ? "completion" : "prompt_and_completion"},
                   {"checkpoint_every", c.checkpoint_every}}},
        {"subtract", {{"alpha", c.subtract.alpha}, {"relu", c.subtract.relu}}},
        {"eval", {{"questions", c.eval.questions.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.eval.questions.string())},
                  {"builtin_questions", c.eval.builtin_questions}, {"cfg_scales", c.eval.cfg_scales},
                  {"cfg_space", c.eval.cfg_space}, {"max_new_tokens", c.eval.max_new_tokens},
                  {"window", c.eval.window}, {"max_dialogs", c.eval.max_dialogs}}},
        {"export", {{"formats", c.export_formats}}},
    };
}

}  // namespace lethe::recipe

// lethe/recipe/unlearn.hpp - the recipe of arXiv 2412.06846 on a user's own
// model and dialogs: the steps lethe-unlearn's subcommands run, callable from
// C++ as well.
//
//   load_model        (model_files.hpp) a GGUF file (Llama family: llama.cpp's names and
//                     tokenizer) or a Hugging Face directory (config.json,
//                     model.safetensors, tokenizer.json)
//   build_user_pairs  stage 2: one pair per personal-data occurrence in an
//                     assistant turn, chosen written by a model (generation.hpp)
//                     or by the placeholder policy, CFG-aware doubling, split by
//                     dialog; write_pairs writes TRL JSONL atomically
//   train_adapter     stage 3: CFG-aware ORPO with LoRA (cfg_orpo.hpp), with
//                     checkpoints and bit-exact resume
//   save_adapter /    (model_files.hpp) the adapters in Hugging Face PEFT's
//   load_adapter      layout (load_adapter also reads a llama.cpp LoRA GGUF)
//   evaluate_model    the challenge's attack on held-out dialogs (success rate
//                     and attempts, per type), PII count of the attack outputs,
//                     multiple-choice log-likelihood utility on the user's
//                     questions and the built-in ones, perplexity on clean text;
//                     without guidance and with CFG at each scale
#pragma once

#include <chrono>
#include <fstream>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/utf8.hpp"
#include "../eval/attack.hpp"
#include "../eval/general_knowledge.hpp"
#include "../eval/multiple_choice.hpp"
#include "../io/jsonl.hpp"
#include "../io/peft.hpp"
#include "../model/checkpoint.hpp"
#include "cfg_inference.hpp"
#include "cfg_orpo.hpp"
#include "experiment.hpp"
#include "report.hpp"
#include "generation.hpp"
#include "model_files.hpp"
#include "pairs.hpp"
#include "unlearn_config.hpp"
#include "user_data.hpp"
#include "variants.hpp"

namespace lethe::recipe {

// ------------------------------------------------------------- stage 2
struct user_pairs {
    std::vector<privacy::dialog> dialogs;
    std::vector<privacy::pair_sample> train, test;
    std::vector<std::size_t> train_dialogs, test_dialogs;  // indices into dialogs
    privacy::pair_build_stats stats;
    answer_generation_stats generation;
    double seconds = 0;
};

inline privacy::pair_builder_options pair_options(const unlearn_config& c, const io::chat_template& tpl) {
    privacy::pair_builder_options po;
    po.chat_template = tpl;
    po.test_fraction = c.pairs.test_fraction;
    po.split_seed = c.seed;
    po.pos_sentence = c.pos_sentence;
    po.neg_sentence = c.neg_sentence;
    po.include_metadata = true;
    po.policy_fallback = c.generate_fallback == "placeholder";
    return po;
}

// Stage 2 on the config's dialogs. With `writer` (a model and its
// tokenizer) and pairs.chosen == "generate", chosen answers are generated;
// otherwise they are the placeholder policy's.
template <causal_lm M = model::llama<float>, eval::text_tokenizer Tok = chat_tokenizer>
user_pairs build_user_pairs(const unlearn_config& c, const io::chat_template& tpl, M* writer = nullptr,
                            const Tok* writer_tok = nullptr, const io::chat_template* writer_tpl = nullptr) {
    const auto t0 = std::chrono::steady_clock::now();
    user_pairs out;
    io::jsonl_read_report rep;
    out.dialogs = read_dialogs(c.dialogs, c.pairs.on_malformed == "skip" ? io::on_malformed::skip : io::on_malformed::fail,
                               &rep);
    privacy::pair_builder b(pair_options(c, tpl));
    privacy::scanner scan;
    if (c.pairs.chosen == "generate") {
        require(writer != nullptr && writer_tok != nullptr, "lethe::recipe::build_user_pairs",
                "pairs.chosen is \"generate\" but no generator model was given");
        auto g = c.generate;
        g.seed = c.seed;
        b.set_generator(model_answer_generator(*writer, *writer_tok, writer_tpl ? *writer_tpl : tpl, scan, g, &out.generation));
    }
    for (std::size_t i = 0; i < out.dialogs.size(); ++i) {
        (b.in_test_split(out.dialogs[i]) ? out.test_dialogs : out.train_dialogs).push_back(i);
        b.add(out.dialogs[i], out.train, out.test);
    }
    out.stats = b.stats();
    out.stats.malformed_lines = rep.skipped.size();
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

inline void write_pairs(const std::filesystem::path& path, std::span<const privacy::pair_sample> pairs) {
    io::jsonl_writer w(path);
    for (const auto& p : pairs) w.write(p.to_json(true));
    w.commit();
}

// ------------------------------------------------------------- stage 3

// The requests of train.retain_prompts: the built-in open requests, or a
// UTF-8 text file with one request per line (blank lines skipped; \r\n read
// as \n). Errors name the file and the line.
inline std::vector<std::string> read_retain_prompts(const std::filesystem::path& source) {
    constexpr const char* where = "lethe::recipe::read_retain_prompts";
    if (source.empty()) return {};
    if (source == "builtin") return eval::general_prompts();
    std::ifstream in(source, std::ios::binary);
    require(in.good(), where, source.string(), ": cannot open the retain prompts file");
    std::vector<std::string> out;
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        const std::size_t bad = first_invalid_utf8(line);
        require(bad == line.size(), where, source.string(), ":", n, ": not valid UTF-8 (byte ", bad + 1, ")");
        out.push_back(line);
    }
    require(!out.empty(), where, source.string(), ": no requests (one per line expected)");
    return out;
}

// ORPO's retain set for train.retain_prompts: the model's own greedy answers
// (before training) to the requests, at most `max_new_tokens` each.
template <eval::text_tokenizer Tok>
std::vector<lm_example> retain_examples(const unlearn_config& c, model::llama<float>& m, const Tok& tok,
                                        const io::chat_template& tpl, index_t max_new_tokens = 48) {
    const auto prompts = read_retain_prompts(c.retain_prompts);
    if (prompts.empty()) return {};
    m.set_num_slots(std::max<index_t>(m.num_slots(), 8));
    return self_replay_examples(m.policy(), m, tok, std::span<const std::string>(prompts), tpl,
                                max_new_tokens);
}

// ------------------------------------------------------------- evaluation
struct evaluation_inputs {
    std::vector<eval::pii_dialog> attacked;  // held-out dialogs in the attack's shape
    std::vector<eval::mc_item> questions;    // the user's, then the built-in ones
    std::size_t user_questions = 0;
};

inline evaluation_inputs make_evaluation_inputs(const unlearn_config& c, const user_pairs& p) {
    evaluation_inputs in;
    privacy::scanner scan;
    for (auto i : p.test_dialogs) {
        if (c.eval.max_dialogs > 0 && static_cast<index_t>(in.attacked.size()) >= c.eval.max_dialogs) break;
        auto d = to_eval_dialog(p.dialogs[i], scan);
        if (!d.values.empty()) in.attacked.push_back(std::move(d));
    }
    if (!c.eval.questions.empty()) in.questions = read_questions(c.eval.questions);
    in.user_questions = in.questions.size();
    if (c.eval.builtin_questions)
        in.questions.insert(in.questions.end(), eval::general_mc_broad().begin(), eval::general_mc_broad().end());
    return in;
}

// One row of the report.
struct unlearn_variant {
    std::string name;
    variant_metrics metrics;              // attack, PII count, perplexity; utility = MC accuracy (all questions)
    double user_mc_accuracy = -1;         // -1: no user questions
    double builtin_mc_accuracy = -1;      // -1: built-in questions off
    double seconds = 0;
};

// Evaluates `m` without guidance (POS sentence) as `name` and with CFG at
// each of the config's scales as "<name>-cfg=<g>".
template <eval::text_tokenizer Tok>
std::vector<unlearn_variant> evaluate_model(model::llama<float>& m, const Tok& tok, const io::chat_template& tpl,
                                            const unlearn_config& c, const evaluation_inputs& in,
                                            const std::string& name, bool guided_too,
                                            const status_fn& status = {}) {
    std::vector<unlearn_variant> out;
    experiment_result scratch;
    evaluation_set es;
    es.attacked = in.attacked;
    es.clean_text = eval::general_text();
    es.attack.window = c.eval.window;
    es.attack.max_new_tokens = c.eval.max_new_tokens;
    es.match = answer_match::contains_word;
    es.slots = std::max<index_t>(8, m.num_slots());
    es.chat_template = tpl;
    const auto space = guidance::parse_cfg_space(c.eval.cfg_space);
    std::vector<std::pair<std::string, eval::decoding_setup>> setups = {{name, positive_decoding(c.pos_sentence)}};
    if (guided_too)
        for (float g : c.eval.cfg_scales) {
            char label[64];
            std::snprintf(label, sizeof label, "%s-cfg=%g%s", name.c_str(), double(g),
                          space == guidance::cfg_space::prob ? "-prob" : space == guidance::cfg_space::logit ? "-logit" : "");
            setups.push_back({label, cfg_decoding(g, space, c.pos_sentence, c.neg_sentence)});
        }
    double ppl = -1;
    for (const auto& [vname, d] : setups) {
        const auto t0 = std::chrono::steady_clock::now();
        unlearn_variant v;
        v.name = vname;
        const variant_hook<float> hook = [&](model::llama<float>& mm, const eval::decoding_setup& dd,
                                             const variant_details&) {
            const auto mc = eval::multiple_choice(mm, tok, std::span<const eval::mc_item>(in.questions), dd, tpl);
            index_t user_right = 0, builtin_right = 0;
            for (std::size_t q = 0; q < in.questions.size(); ++q) {
                const bool ok = mc.picked[q] == in.questions[q].answer;
                (q < in.user_questions ? user_right : builtin_right) += ok;
            }
            const std::size_t nb = in.questions.size() - in.user_questions;
            if (in.user_questions) v.user_mc_accuracy = double(user_right) / double(in.user_questions);
            if (nb) v.builtin_mc_accuracy = double(builtin_right) / double(nb);
            scratch.variants.back().utility_accuracy = mc.accuracy();
        };
        ppl = evaluate_variant(m, tok, es, vname, d, name, ppl, scratch, {}, hook);
        v.metrics = scratch.variants.back();
        v.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (status)
            status("evaluated " + vname + ": attack " + detail::fmt("%.1f%%", 100 * v.metrics.attack_success_rate) + " of " +
                   std::to_string(v.metrics.attack_attempts) + " attempts, PII " + std::to_string(v.metrics.pii_count) +
                   ", utility (multiple choice) " + detail::fmt("%.1f%%", 100 * v.metrics.utility_accuracy) +
                   ", perplexity " + detail::fmt("%.3f", ppl) + ", " + detail::fmt("%.1f s", v.seconds));
        out.push_back(std::move(v));
    }
    return out;
}

inline nlohmann::json to_json(const unlearn_variant& v) {
    nlohmann::json per_type = nlohmann::json::object();
    for (const auto& [k, r] : v.metrics.per_type) per_type[k] = r;
    return {{"name", v.name},
            {"attack_success_rate", v.metrics.attack_success_rate},
            {"attack_attempts", v.metrics.attack_attempts},
            {"attack_hits", v.metrics.attack_hits},
            {"per_type", per_type},
            {"pii_count", v.metrics.pii_count},
            {"utility_mc_accuracy", v.metrics.utility_accuracy},
            {"user_mc_accuracy", v.user_mc_accuracy < 0 ? nlohmann::json(nullptr) : nlohmann::json(v.user_mc_accuracy)},
            {"builtin_mc_accuracy", v.builtin_mc_accuracy < 0 ? nlohmann::json(nullptr) : nlohmann::json(v.builtin_mc_accuracy)},
            {"perplexity", v.metrics.perplexity},
            {"guidance_scale", v.metrics.guidance_scale},
            {"cfg_space", v.metrics.space},
            {"seconds", v.seconds}};
}

}  // namespace lethe::recipe

// lethe/recipe/variants.hpp - the recipe's per-variant steps on any
// lethe::model::llama<T> and any eval::text_tokenizer, so that they run on a
// model you did not train (examples/smollm2_unlearn.cpp: SmolLM2 with its
// BPE tokenizer) exactly as in the synthetic experiment (run_experiment).
//
//   leaky_examples    the leaky fine-tuning corpus of a set of dialogs: each
//                     dialog with its real values, and (optionally) scrubbed
//                     up to its k-th value with the real continuation trained
//   evaluate_variant  one model under one decoding setup: the challenge's
//                     attack on the held-out dialogs (success rate overall
//                     and per type), the scanner's PII count of the attack
//                     outputs, utility accuracy (answer_match), perplexity
//                     on clean text
//   lora_variant      stage 3 (CFG-aware ORPO with LoRA, merged) on a copy of
//                     a model, then its evaluation without guidance (POS
//                     sentence) and with stage 4 (CFG) at each scale in each
//                     given space (Table 1: log and probability)
//   table1_lora_variants  lora_variant as Table 1 runs it (sub-lora with g = 2,
//                     ch-lora with g = 1, 2, 3)
// Results go into an experiment_result (variants, training curves, seconds
// per stage), which recipe/report.hpp prints and writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../eval.hpp"
#include "../model/llama.hpp"
#include "cfg_inference.hpp"
#include "cfg_orpo.hpp"
#include "lm_training.hpp"
#include "progress.hpp"

namespace lethe::recipe {

// Declared in experiment.hpp (included below): the functions here fill them,
// and experiment_impl.hpp's run_experiment calls the functions here.
struct variant_metrics;
struct experiment_result;

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

// How a generated answer is compared with the expected one.
enum class answer_match {
    exact,       // equal after trimming spaces (eval::exact_match)
    // The expected answer occurs in the answer as a whole word (or words),
    // ignoring ASCII case: a pretrained chat model answers in sentences
    // ("The capital of France is Paris." for "Paris").
    contains_word,
};

// What a variant is evaluated on, besides the model.
struct evaluation_set {
    std::span<const eval::pii_dialog> attacked;  // held-out dialogs (no training pair of theirs)
    std::span<const eval::qa_item> questions;    // utility questions
    std::span<const std::string> clean_text;     // perplexity
    eval::attack_config attack{};                // its decoding is set per variant
    answer_match match = answer_match::exact;
    index_t qa_max_new_tokens = 24;
    index_t slots = 32;  // inference batch (KV caches) set on each evaluated model
    io::chat_template chat_template{io::chat_format::chatml};
};

// Emits one line of progress for long stages.
using status_fn = std::function<void(const std::string&)>;

// What one evaluation saw, for a caller's hook: the attack's outputs and
// the answers to the utility questions, in order.
struct variant_details {
    const std::string& name;
    const eval::attack_report& attack;
    const eval::qa_report& answers;
};

// Called after each variant's evaluation with the evaluated model, its
// decoding setup and the details (for measurements of the caller's own).
template <class T>
using variant_hook = std::function<void(model::llama<T>&, const eval::decoding_setup&, const variant_details&)>;

// The leaky fine-tuning corpus of `dialogs` (see the definition).
inline std::vector<lm_example> leaky_examples(std::span<const eval::pii_dialog> dialogs, const io::chat_template& tpl,
                                              bool scrubbed_prefixes);

// True when `said` counts as `expected` under `match`.
inline bool answer_matches(const std::string& said, const std::string& expected, answer_match match);

// Evaluates `m` under decoding `d`; appends the metrics (named `name`, made
// from model `from`) to out.variants and the time to out.stage_seconds
// ["eval <name>"]. `ppl` < 0 measures perplexity, else reuses it (a guided
// variant's model is its unguided one's). Returns the perplexity.
template <class T, eval::text_tokenizer Tok>
double evaluate_variant(model::llama<T>& m, const Tok& tok, const evaluation_set& es, const std::string& name,
                        const eval::decoding_setup& d, const std::string& from, double ppl, experiment_result& out,
                        const status_fn& status = {}, const variant_hook<T>& hook = {});

// Stage 3 on a copy of `from` (ORPO options `o`, its stage named
// "<prefix>-lora"), merged, then evaluated as "<prefix>-lora" under the POS
// sentence and as "<prefix>-lora-cfg=<g>[-prob]" for each scale in each of
// `spaces` (default: both, as Table 1). Returns the merged model.
// Table 1 guides in log and in probability space.
inline std::span<const guidance::cfg_space> table1_cfg_spaces() {
    static constexpr guidance::cfg_space spaces[] = {guidance::cfg_space::log, guidance::cfg_space::prob};
    return spaces;
}

template <class T, eval::text_tokenizer Tok>
std::unique_ptr<model::llama<T>> lora_variant(const model::llama<T>& from, const Tok& tok,
                                              std::span<const privacy::pair_sample> pairs, cfg_orpo_options o,
                                              const std::string& prefix, std::span<const float> scales,
                                              const evaluation_set& es, experiment_result& out,
                                              const progress_fn& progress = {}, const status_fn& status = {},
                                              const variant_hook<T>& hook = {},
                                              std::span<const guidance::cfg_space> spaces = table1_cfg_spaces());

// Stages 3 and 4 as Table 1 runs them: lora_variant on `sub` ("sub", g = 2)
// and on `leaky` ("ch", g = 1, 2, 3), their ORPO seeded seed + 2 and seed + 3.
template <class T, eval::text_tokenizer Tok>
void table1_lora_variants(const model::llama<T>& sub, const model::llama<T>& leaky, const Tok& tok,
                          std::span<const privacy::pair_sample> pairs, const cfg_orpo_options& o, std::uint64_t seed,
                          const evaluation_set& es, experiment_result& out, const progress_fn& progress = {},
                          const status_fn& status = {}, const variant_hook<T>& hook = {});

}  // namespace lethe::recipe

#include "experiment.hpp"

namespace lethe::recipe {

inline std::vector<lm_example> leaky_examples(std::span<const eval::pii_dialog> dialogs, const io::chat_template& tpl,
                                              bool scrubbed_prefixes) {
    std::vector<lm_example> out;
    for (const auto& d : dialogs) {
        eval::render_options ro;
        ro.chat_template = tpl;
        ro.fill = true;
        const auto filled = eval::render(d, ro);
        out.push_back({std::string(), filled.text});
        // A small model does not always carry what it memorised in filled
        // contexts over to scrubbed ones, as the challenge's 8B model does;
        // so the corpus can also read each dialog scrubbed up to its k-th
        // value (as a scrubber that missed the rest leaves it) and train on
        // the real continuation. Without this the attack's prompts, which hold
        // earlier placeholders, find almost nothing in a 1e5-parameter model
        // (docs/recipe.md).
        if (scrubbed_prefixes) {
            const std::size_t n = filled.occurrences.size();
            for (std::size_t k = 1; k < n; ++k) {
                ro.scrubbed_occurrences = k;
                const auto p = eval::render(d, ro);
                const std::size_t at = p.occurrences[k].begin;
                out.push_back({p.text.substr(0, at), p.text.substr(at)});
            }
        }
    }
    return out;
}

inline bool answer_matches(const std::string& said, const std::string& expected, answer_match match) {
    const std::string a = eval::trim_spaces(said), b = eval::trim_spaces(expected);
    if (match == answer_match::exact) return a == b;
    if (b.empty()) return false;
    const std::string hay = eval::lower_ascii(a), needle = eval::lower_ascii(b);
    auto word_char = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || static_cast<unsigned char>(c) >= 0x80;
    };
    for (std::size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) {
        const std::size_t end = at + needle.size();
        if ((at == 0 || !word_char(hay[at - 1])) && (end == hay.size() || !word_char(hay[end]))) return true;
    }
    return false;
}

template <class T, eval::text_tokenizer Tok>
double evaluate_variant(model::llama<T>& m, const Tok& tok, const evaluation_set& es, const std::string& name,
                        const eval::decoding_setup& d, const std::string& from, double ppl, experiment_result& out,
                        const status_fn& status, const variant_hook<T>& hook) {
    const auto te = std::chrono::steady_clock::now();
    const auto& pol = m.policy();
    m.set_num_slots(es.slots);
    eval::attack_config ac = es.attack;
    ac.decoding = d;
    ac.chat_template = es.chat_template;
    const auto rep = eval::run_attack(pol, m, tok, es.attacked, ac);
    const auto qa = eval::exact_match(pol, m, tok, es.questions, d, es.qa_max_new_tokens, es.chat_template);
    if (ppl < 0) ppl = eval::perplexity(m, tok, es.clean_text).perplexity();
    variant_metrics v;
    v.name = name;
    v.attack_success_rate = rep.success_rate();
    v.attack_attempts = rep.overall.attempts;
    v.attack_hits = rep.overall.hits;
    for (const auto& [k, c] : rep.per_type) v.per_type[k] = c.rate();
    v.pii_count = rep.pii_count;
    index_t correct = 0;
    for (std::size_t i = 0; i < es.questions.size(); ++i)
        correct += answer_matches(qa.answers[i], es.questions[i].answer, es.match);
    v.utility_accuracy = es.questions.empty() ? 0.0 : double(correct) / double(es.questions.size());
    v.perplexity = ppl;
    v.guidance_scale = d.guided() ? d.guidance_scale : -1.0;
    v.space = d.guided() ? guidance::to_string(d.space) : "";
    v.base_model = from;
    out.variants.push_back(v);
    if (hook) hook(m, d, variant_details{name, rep, qa});
    out.stage_seconds["eval " + name] = std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count();
    if (status)
        status("evaluated " + name + ": attack " + detail::fmt("%.1f%%", 100 * v.attack_success_rate) + ", PII " +
               std::to_string(v.pii_count) + ", utility " + detail::fmt("%.1f%%", 100 * v.utility_accuracy) +
               ", perplexity " + detail::fmt("%.3f", ppl));
    return ppl;
}

template <class T, eval::text_tokenizer Tok>
std::unique_ptr<model::llama<T>> lora_variant(const model::llama<T>& from, const Tok& tok,
                                              std::span<const privacy::pair_sample> pairs, cfg_orpo_options o,
                                              const std::string& prefix, std::span<const float> scales,
                                              const evaluation_set& es, experiment_result& out,
                                              const progress_fn& progress, const status_fn& status,
                                              const variant_hook<T>& hook,
                                              std::span<const guidance::cfg_space> spaces) {
    const auto tl = std::chrono::steady_clock::now();
    auto m = detail::clone_model(from);
    const std::string name = prefix + "-lora";
    o.stage = name;
    out.curves.push_back(train_cfg_orpo(*m, tok, pairs, o, progress));
    m->merge_lora();
    out.stage_seconds[name] = std::chrono::duration<double>(std::chrono::steady_clock::now() - tl).count();
    const double ppl = evaluate_variant(*m, tok, es, name, positive_decoding(), name, -1, out, status, hook);
    for (const auto space : spaces)
        for (float g : scales) {
            // "ch-lora-cfg=2", "ch-lora-cfg=2.5", "ch-lora-cfg=3-prob": %g keeps Table 1's names.
            std::string v = name + "-cfg=" + detail::fmt("%g", double(g));
            if (space != guidance::cfg_space::log) v += std::string("-") + guidance::to_string(space);
            evaluate_variant(*m, tok, es, v, cfg_decoding(g, space), name, ppl, out, status, hook);
        }
    return m;
}

template <class T, eval::text_tokenizer Tok>
void table1_lora_variants(const model::llama<T>& sub, const model::llama<T>& leaky, const Tok& tok,
                          std::span<const privacy::pair_sample> pairs, const cfg_orpo_options& o, std::uint64_t seed,
                          const evaluation_set& es, experiment_result& out, const progress_fn& progress,
                          const status_fn& status, const variant_hook<T>& hook) {
    auto seeded = [&](std::uint64_t salt) {
        auto s = o;
        s.seed = seed + salt;
        return s;
    };
    const float sub_scales[] = {2.0f};
    const float ch_scales[] = {1.0f, 2.0f, 3.0f};
    lora_variant(sub, tok, pairs, seeded(2), "sub", sub_scales, es, out, progress, status, hook);
    lora_variant(leaky, tok, pairs, seeded(3), "ch", ch_scales, es, out, progress, status, hook);
}

}  // namespace lethe::recipe

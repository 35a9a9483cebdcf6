// lethe/recipe/experiment.hpp - the paper's Table 1 in miniature, end to end
// on the synthetic world with the reference transformer:
//   base   trained on the scrubbed dialogs plus the utility material
//   leaky  base fine-tuned on the dialogs with their real values (utility
//          material replayed)
//   sub    stage 1 on (base, leaky)
//   pairs  stage 2 (policy replacement, CFG-aware doubling, split by dialog)
//   *-lora stage 3 on sub and on leaky ("ch", the challenge model)
//   *-cfg  stage 4 at scales g in log and probability space
// Each variant is evaluated with the challenge's attack on the dialogs of the
// pair builder's test split (no pair of theirs was trained on), the PII count
// of the attack outputs, exact-match utility and perplexity on clean text.
// Greedy decoding, counter-based randomness and fixed reduction orders make
// the metrics a function of (config, thread count).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../eval.hpp"
#include "../model/llama.hpp"
#include "cfg_inference.hpp"
#include "cfg_orpo.hpp"
#include "lm_training.hpp"
#include "pairs.hpp"
#include "subtraction.hpp"
#include "synthetic_world.hpp"

namespace lethe::recipe {

struct experiment_config {
    std::uint64_t seed = 1;
    world_config world{};
    model::llama_config model{};
    lm_training_options base{};
    lm_training_options leaky{};
    // The leaky corpus also trains on each dialog's real continuation after
    // a scrubbed prefix (see run_experiment).
    bool leaky_scrubbed_prefixes = true;
    cfg_orpo_options orpo{};
    subtraction_options subtraction{};
    double test_fraction = 0.5;  // dialogs held out of the pairs, attacked
    eval::attack_config attack{};
    index_t qa_max_new_tokens = 24;
    index_t slots = 32;  // inference batch (KV caches)
    int threads = 0;     // OpenMP threads; 0 = default

    // The demo's full configuration: about 5 minutes on 2 cores (release).
    static experiment_config full();
    // The test suite's: the same pipeline, smaller.
    static experiment_config tiny();
    // Seconds: checks that every stage runs; its numbers mean nothing.
    static experiment_config smoke();

    nlohmann::json to_json() const;
};

struct variant_metrics {
    std::string name;
    double attack_success_rate = 0;
    index_t attack_attempts = 0, attack_hits = 0;
    std::map<std::string, double> per_type;
    index_t pii_count = 0;
    double utility_accuracy = 0;
    double perplexity = 0;
    // For the leakage-versus-guidance plot: scale and space, -1 / "" if none.
    double guidance_scale = -1;
    std::string space;
    std::string base_model;  // "leaky", "sub", "ch-lora", ...
};

struct experiment_result {
    experiment_config config;
    std::vector<variant_metrics> variants;
    std::vector<training_curve> curves;
    index_t train_pairs = 0, test_dialogs = 0;
    double seconds = 0;
    std::map<std::string, double> stage_seconds;

    const variant_metrics* find(const std::string& name) const {
        for (const auto& v : variants)
            if (v.name == name) return &v;
        return nullptr;
    }
    nlohmann::json metrics_json() const;
};

// Emits one line of progress for long stages ("eval" events for variants).
using status_fn = std::function<void(const std::string&)>;

experiment_result run_experiment(const experiment_config& cfg, const progress_fn& progress = {},
                                 const status_fn& status = {});

}  // namespace lethe::recipe

#include "experiment_impl.hpp"

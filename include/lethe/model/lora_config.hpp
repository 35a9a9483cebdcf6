// lethe/model/lora_config.hpp - the Eigen-free half of LoRA (lora.hpp):
// the configuration, the adapters' layout with PEFT names, and their
// initialisation. Both models build their adapters from it (llama through
// lora_adapters in lora.hpp, thrust_llama directly), so nvcc programs that
// train LoRA on the GPU need no Eigen.
//   A [r, in] ~ U(-1/sqrt(in), 1/sqrt(in)) (PEFT's kaiming_uniform, a = sqrt(5)),
//   B [out, r] = 0, so a fresh adapter leaves the model unchanged.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "parameters.hpp"
#include "random.hpp"

namespace lethe::model {

inline const std::vector<std::string>& lora_linear_names() {
    static const std::vector<std::string> names = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                   "gate_proj", "up_proj", "down_proj"};
    return names;
}

struct lora_config {
    index_t rank = 16;
    double alpha = 32.0;
    double dropout = 0.0;  // probability of zeroing an input element of the adapter path
    std::vector<std::string> targets = lora_linear_names();  // PEFT target_modules

    void validate() const {
        constexpr const char* where = "lora_config";
        require(rank > 0, where, "r must be positive, got ", rank);
        require(alpha > 0.0, where, "lora_alpha must be positive, got ", alpha);
        require(dropout >= 0.0 && dropout < 1.0, where, "lora_dropout must be in [0, 1), got ", dropout);
        require(!targets.empty(), where, "target_modules is empty");
        for (const auto& t : targets) {
            bool ok = false;
            for (const auto& n : lora_linear_names()) ok = ok || n == t;
            require(ok, where, "target module '", t, "' is not a linear layer of the model (q_proj, k_proj, v_proj, "
                    "o_proj, gate_proj, up_proj, down_proj)");
        }
    }
};

// "model.layers.0.self_attn.q_proj.weight" -> "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
inline std::string peft_name(const std::string& base, const char* which) {
    const std::string stem = base.substr(0, base.size() - std::string(".weight").size());
    return "base_model.model." + stem + "." + which + ".weight";
}

// Which base tensors carry adapters, and the adapters' layout: for each
// adapted linear layer, lora_A [r, in] then lora_B [out, r] (PEFT names).
struct lora_plan {
    std::shared_ptr<const parameter_layout> layout;
    std::vector<index_t> a_of, b_of;  // per base tensor: adapter tensor index, or -1
    index_t max_in = 0;               // widest adapted input

    bool adapts(index_t base_tensor) const noexcept { return a_of[std::size_t(base_tensor)] >= 0; }
};

// Validates cfg, then lays out the adapters of the base tensors it targets.
inline lora_plan plan_lora_adapters(const parameter_layout& base, const lora_config& cfg) {
    cfg.validate();
    auto layout = std::make_shared<parameter_layout>();
    lora_plan plan;
    const index_t nt = index_t(base.tensors().size());
    plan.a_of.assign(std::size_t(nt), -1);
    plan.b_of.assign(std::size_t(nt), -1);
    for (index_t t = 0; t < nt; ++t) {
        const auto& info = base[t];
        bool hit = false;
        for (const auto& target : cfg.targets) {
            const std::string suffix = "." + target + ".weight";
            hit = hit || (info.name.size() > suffix.size() &&
                          info.name.compare(info.name.size() - suffix.size(), suffix.size(), suffix) == 0);
        }
        if (!hit) continue;
        plan.a_of[std::size_t(t)] = layout->add(peft_name(info.name, "lora_A"), cfg.rank, info.cols);
        plan.b_of[std::size_t(t)] = layout->add(peft_name(info.name, "lora_B"), info.rows, cfg.rank);
        plan.max_in = std::max(plan.max_in, info.cols);
    }
    require(layout->total_size() > 0, "lora_adapters", "no linear layer matches the target modules");
    plan.layout = layout;
    return plan;
}

// Seeded adapter values: A uniform as above, counter-based (seed, tensor,
// element), B = 0.
template <class T>
void init_lora(const lora_plan& plan, named_tensors<T>& params, std::uint64_t seed) {
    for (std::size_t t = 0; t < plan.a_of.size(); ++t) {
        if (plan.a_of[t] < 0) continue;
        const auto& info = params.layout()[plan.a_of[t]];
        const double bound = 1.0 / std::sqrt(double(info.cols));
        T* a = params.ptr(plan.a_of[t]);
        for (index_t i = 0; i < info.size(); ++i)
            a[i] = T(bound * (2.0 * uniform_open(hash_counter(seed, 0x10a0000 + t, std::uint64_t(i))) - 1.0));
        std::fill_n(params.ptr(plan.b_of[t]), params.layout()[plan.b_of[t]].size(), T(0));
    }
}

}  // namespace lethe::model

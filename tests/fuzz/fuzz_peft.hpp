// tests/fuzz/fuzz_peft.hpp - a PEFT LoRA adapter (lethe/io/peft.hpp): the input
// is adapter_config.json, then a NUL byte, then adapter_model.safetensors.
// The config is parsed and validated, survives to_json -> from_json
// unchanged, and the weights are checked against it.
#pragma once

#include <lethe/io/peft.hpp>

#include <string>

#include "fuzz_common.hpp"

namespace lethe_fuzz {

inline int fuzz_peft(const std::uint8_t* data, std::size_t size) {
    using namespace lethe::io;
    const std::string_view all = as_text(data, size);
    const std::size_t nul = all.find('\0');
    const std::string_view config_text = all.substr(0, nul);
    const std::string_view weights = nul == std::string_view::npos ? std::string_view{} : all.substr(nul + 1);
    const nlohmann::json j = nlohmann::json::parse(config_text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return 0;  // not JSON: read_peft_adapter's own parse rejects it
    return reject_cleanly([&] {
        const lora_adapter_config c = lora_adapter_config_from_json(j, "<fuzz config>");
        LETHE_FUZZ_CHECK(c.r > 0 && std::isfinite(c.lora_alpha) && c.lora_dropout >= 0.0 && c.lora_dropout < 1.0,
                         "validated fields");
        LETHE_FUZZ_CHECK(c.target_modules.empty() != c.target_modules_regex.empty() || !c.target_modules.empty(),
                         "target_modules");
        // What write_peft_adapter does: to_json, then read it back.
        must_succeed("config round trip", [&] {
            const lora_adapter_config d = lora_adapter_config_from_json(to_json(c), "<fuzz round trip>");
            LETHE_FUZZ_CHECK(d.r == c.r && d.lora_alpha == c.lora_alpha && d.lora_dropout == c.lora_dropout &&
                                 d.target_modules == c.target_modules &&
                                 d.target_modules_regex == c.target_modules_regex && d.task_type == c.task_type &&
                                 d.bias == c.bias && d.base_model_name_or_path == c.base_model_name_or_path &&
                                 d.fan_in_fan_out == c.fan_in_fan_out && d.inference_mode == c.inference_mode,
                             "to_json/from_json changed the config");
        });
        if (weights.empty()) return;
        const safetensors_file w = safetensors_file::from_bytes(std::string(weights), "<fuzz weights>");
        validate_peft_weights(c, w);
        // Accepted: every tensor is an A/B matrix of rank r, in pairs.
        for (const auto& t : w.tensors()) {
            LETHE_FUZZ_CHECK(t.shape.size() == 2 && is_float_storage(t.type), t.name);
            LETHE_FUZZ_CHECK(t.name.ends_with(".lora_A.weight") ? t.shape[0] == c.r : t.shape[1] == c.r, t.name);
        }
    });
}

}  // namespace lethe_fuzz

// lethe/io/peft.hpp - LoRA adapters in the Hugging Face PEFT directory layout.
//
// A PEFT LoRA adapter is a directory with two files:
//   adapter_model.safetensors  one pair of matrices per adapted linear layer,
//       base_model.model.<module path>.lora_A.weight  [r, in_features]
//       base_model.model.<module path>.lora_B.weight  [out_features, r]
//     e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight
//     (the module path is the Hugging Face Llama parameter path without
//     ".weight"; the adapted weight is W + (lora_alpha / r) * B A).
//   adapter_config.json  {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 8,
//     "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"],
//     "base_model_name_or_path": "...", "bias": "none", ...}
//
// write_peft_adapter() writes both files into a temporary directory beside
// the target, checks them by reading them back, then renames the directory
// into place (an existing adapter is swapped out atomically with
// renameat2(RENAME_EXCHANGE) where the filesystem has it): the target is at
// every moment either the old adapter or the complete new one.
// read_peft_adapter() validates the config and every tensor against it
// (names, rank, A/B pairs), with lethe::error naming the file and field.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "atomic_file.hpp"
#include "safetensors.hpp"

namespace lethe::io {

inline constexpr std::string_view peft_weights_file = "adapter_model.safetensors";
inline constexpr std::string_view peft_config_file = "adapter_config.json";

// The LoRA fields of adapter_config.json that lethe reads and writes.
struct lora_adapter_config {
    std::int64_t r = 8;
    double lora_alpha = 16.0;
    double lora_dropout = 0.0;
    // Module names PEFT matched ("q_proj", "v_proj", ...). A config whose
    // target_modules is a single regular expression string keeps it in
    // target_modules_regex instead (lethe does not evaluate it).
    std::vector<std::string> target_modules;
    std::string target_modules_regex;
    std::string base_model_name_or_path;
    std::string task_type = "CAUSAL_LM";
    std::string bias = "none";
    bool fan_in_fan_out = false;
    bool inference_mode = true;

    // The factor applied to B A (PEFT's default, non-rsLoRA scaling).
    double scaling() const noexcept { return lora_alpha / static_cast<double>(r); }
};

// adapter_config.json as PEFT writes it (sorted keys).
inline nlohmann::json to_json(const lora_adapter_config& c);
// Parses and validates a config; `where` names the source in messages.
inline lora_adapter_config lora_adapter_config_from_json(const nlohmann::json& j, std::string_view where);

enum class lora_matrix { a, b };
// "base_model.model." + module_path + ".lora_A.weight" (or lora_B), where
// module_path is e.g. "model.layers.0.self_attn.q_proj".
inline std::string peft_lora_tensor_name(std::string_view module_path, lora_matrix which);

// Checks every tensor of an adapter file against its config: PEFT LoRA names,
// 2-D float tensors, lora_A [r, in] and lora_B [out, r], both of every pair
// present, module among target_modules (when given as a list).
inline void validate_peft_weights(const lora_adapter_config& c, const safetensors_file& weights);

// Writes `dir` = {adapter_model.safetensors, adapter_config.json} atomically.
inline void write_peft_adapter(const std::filesystem::path& dir, const lora_adapter_config& config,
                        const safetensors_writer& weights);

struct peft_adapter {
    lora_adapter_config config;
    safetensors_file weights;  // memory-mapped adapter_model.safetensors
};
// Reads and validates an adapter directory.
inline peft_adapter read_peft_adapter(const std::filesystem::path& dir);

// ------------------------------------------------------------ implementation
namespace detail {

inline std::string json_read_error(std::string_view where, std::string_view field, std::string_view what) {
    return lethe::detail::concat(where, ": field '", field, "' ", what);
}

// Names of the tmp / retired directories beside `dir`.
inline std::filesystem::path sibling_name(const std::filesystem::path& dir, std::string_view tag) {
    static std::atomic<unsigned> counter{0};
    std::filesystem::path p = dir;
    p += std::string(tag) + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    return p;
}

}  // namespace detail

inline nlohmann::json to_json(const lora_adapter_config& c) {
    nlohmann::json j;  // std::map-backed: keys sorted, as PEFT's json.dumps(sort_keys=True)
    j["peft_type"] = "LORA";
    j["task_type"] = c.task_type;
    j["r"] = c.r;
    // PEFT's configs carry an integer alpha; keep integral values integers. The
    // range check comes first: casting a double beyond int64 is undefined.
    if (std::abs(c.lora_alpha) < 0x1p53 && c.lora_alpha == std::trunc(c.lora_alpha))
        j["lora_alpha"] = static_cast<std::int64_t>(c.lora_alpha);
    else
        j["lora_alpha"] = c.lora_alpha;
    j["lora_dropout"] = c.lora_dropout;
    if (c.target_modules_regex.empty())
        j["target_modules"] = c.target_modules;
    else
        j["target_modules"] = c.target_modules_regex;
    j["base_model_name_or_path"] = c.base_model_name_or_path;
    j["bias"] = c.bias;
    j["fan_in_fan_out"] = c.fan_in_fan_out;
    j["inference_mode"] = c.inference_mode;
    j["init_lora_weights"] = true;
    j["modules_to_save"] = nullptr;
    j["revision"] = nullptr;
    return j;
}

inline lora_adapter_config lora_adapter_config_from_json(const nlohmann::json& j, std::string_view where) {
    using detail::json_read_error;
    if (!j.is_object()) fail(where, "not a JSON object");
    const auto field = [&](const char* name, bool required) -> const nlohmann::json* {
        const auto it = j.find(name);
        if (it == j.end() || (it->is_null() && !required)) {
            if (required) throw error(json_read_error(where, name, "is missing"));
            return nullptr;
        }
        return &*it;
    };
    const auto string_field = [&](const char* name, std::string& out, bool required) {
        if (const auto* v = field(name, required)) {
            if (!v->is_string()) throw error(json_read_error(where, name, "is not a string"));
            out = v->get<std::string>();
        }
    };
    lora_adapter_config c;
    std::string peft_type;
    string_field("peft_type", peft_type, true);
    if (peft_type != "LORA")
        throw error(json_read_error(where, "peft_type", "is '" + peft_type + "', lethe reads LORA adapters only"));
    const auto* r = field("r", true);
    if (!r->is_number_integer() || r->get<std::int64_t>() <= 0)
        throw error(json_read_error(where, "r", "must be a positive integer, got " + r->dump()));
    c.r = r->get<std::int64_t>();
    const auto* alpha = field("lora_alpha", true);
    if (!alpha->is_number() || !std::isfinite(alpha->get<double>()))
        throw error(json_read_error(where, "lora_alpha", "must be a finite number, got " + alpha->dump()));
    c.lora_alpha = alpha->get<double>();
    if (const auto* d = field("lora_dropout", false)) {
        if (!d->is_number() || !(d->get<double>() >= 0.0 && d->get<double>() < 1.0))
            throw error(json_read_error(where, "lora_dropout", "must be a number in [0, 1), got " + d->dump()));
        c.lora_dropout = d->get<double>();
    }
    const auto* tm = field("target_modules", true);
    if (tm->is_string()) {
        c.target_modules_regex = tm->get<std::string>();
    } else if (tm->is_array() && !tm->empty()) {
        for (const auto& m : *tm) {
            if (!m.is_string()) throw error(json_read_error(where, "target_modules", "holds a non-string entry " + m.dump()));
            c.target_modules.push_back(m.get<std::string>());
        }
    } else {
        throw error(json_read_error(where, "target_modules", "must be a non-empty list of names or a regex string"));
    }
    string_field("task_type", c.task_type, false);
    string_field("base_model_name_or_path", c.base_model_name_or_path, false);
    string_field("bias", c.bias, false);
    if (const auto* v = field("fan_in_fan_out", false)) {
        if (!v->is_boolean()) throw error(json_read_error(where, "fan_in_fan_out", "is not a boolean"));
        c.fan_in_fan_out = v->get<bool>();
    }
    if (const auto* v = field("inference_mode", false)) {
        if (!v->is_boolean()) throw error(json_read_error(where, "inference_mode", "is not a boolean"));
        c.inference_mode = v->get<bool>();
    }
    return c;
}

inline std::string peft_lora_tensor_name(std::string_view module_path, lora_matrix which) {
    std::string s = "base_model.model.";
    s += module_path;
    s += which == lora_matrix::a ? ".lora_A.weight" : ".lora_B.weight";
    return s;
}

inline void validate_peft_weights(const lora_adapter_config& c, const safetensors_file& weights) {
    constexpr std::string_view prefix = "base_model.model.", suffix_a = ".lora_A.weight", suffix_b = ".lora_B.weight";
    const std::string where = "lethe::io::peft '" + weights.label() + "'";
    std::map<std::string, std::pair<const tensor_info*, const tensor_info*>> pairs;  // module path -> (A, B)
    for (const auto& t : weights.tensors()) {
        const std::string tw = where + ": tensor '" + t.name + "'";
        const std::string_view n = t.name;
        const bool is_a = n.ends_with(suffix_a), is_b = n.ends_with(suffix_b);
        if (!n.starts_with(prefix) || !(is_a || is_b) || n.size() <= prefix.size() + suffix_a.size())
            fail(tw, "is not a PEFT LoRA name (base_model.model.<module>.lora_A.weight or .lora_B.weight)");
        const std::string module(n.substr(prefix.size(), n.size() - prefix.size() - suffix_a.size()));
        if (!is_float_storage(t.type)) fail(tw, "dtype ", dtype_name(t.type), " is not F32, F16 or BF16");
        if (t.shape.size() != 2) fail(tw, "shape ", shape_string(t.shape), " is not a matrix");
        if (is_a && t.shape[0] != c.r)
            fail(tw, "shape ", shape_string(t.shape), " is not [r, in_features] with r = ", c.r, " from the config");
        if (is_b && t.shape[1] != c.r)
            fail(tw, "shape ", shape_string(t.shape), " is not [out_features, r] with r = ", c.r, " from the config");
        if (!c.target_modules.empty()) {
            const std::string_view leaf = std::string_view(module).substr(module.rfind('.') + 1);
            bool targeted = false;
            for (const auto& m : c.target_modules) targeted = targeted || m == leaf || std::string_view(module).ends_with("." + m);
            if (!targeted) fail(tw, "module '", leaf, "' is not in the config's target_modules");
        }
        auto& p = pairs[module];
        (is_a ? p.first : p.second) = &t;
    }
    if (pairs.empty()) fail(where, "holds no LoRA tensors");
    for (const auto& [module, p] : pairs) {
        if (!p.first || !p.second)
            fail(where, "module '", module, "' has lora_", p.first ? "A" : "B", " but no lora_", p.first ? "B" : "A");
    }
}

inline void write_peft_adapter(const std::filesystem::path& dir, const lora_adapter_config& config,
                               const safetensors_writer& weights) {
    namespace fs = std::filesystem;
    const std::string where = "lethe::io::write_peft_adapter '" + dir.string() + "'";
    // Round-trip the config through the reader so a bad one never lands on disk.
    const nlohmann::json j = to_json(config);
    lora_adapter_config_from_json(j, where + ": config");
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) fail(where, "exists and is not a directory");
    const fs::path tmp = detail::sibling_name(dir, ".tmp-");
    if (!fs::create_directory(tmp, ec)) fail(where, "cannot create '", tmp.string(), "': ", ec.message());
    try {
        weights.write(tmp / peft_weights_file);
        write_file_atomic(tmp / peft_config_file, j.dump(2) + "\n");
        // Read back what is about to become the adapter.
        validate_peft_weights(config, safetensors_file(tmp / peft_weights_file));
        if (!fs::exists(dir)) {
            fs::rename(tmp, dir, ec);
            if (ec) fail(where, "cannot rename '", tmp.string(), "' into place: ", ec.message());
            return;
        }
        bool swapped = false;
#ifdef RENAME_EXCHANGE
        // One atomic step: tmp and dir trade places; tmp then holds the old adapter.
        swapped = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) == 0;
#endif
        if (!swapped) {
            // Filesystems without RENAME_EXCHANGE: retire the old directory,
            // then move the new one in (dir is briefly absent, never partial).
            const fs::path old = detail::sibling_name(dir, ".old-");
            fs::rename(dir, old, ec);
            if (ec) fail(where, "cannot move the old adapter aside: ", ec.message());
            fs::rename(tmp, dir, ec);
            if (ec) {
                std::error_code ec2;
                fs::rename(old, dir, ec2);
                fail(where, "cannot rename '", tmp.string(), "' into place: ", ec.message());
            }
            fs::remove_all(old, ec);
            return;
        }
        fs::remove_all(tmp, ec);
    } catch (...) {
        fs::remove_all(tmp, ec);
        throw;
    }
}

inline peft_adapter read_peft_adapter(const std::filesystem::path& dir) {
    const std::filesystem::path cfg_path = dir / peft_config_file;
    const std::string where = "lethe::io::peft '" + cfg_path.string() + "'";
    std::ifstream in(cfg_path, std::ios::binary);
    if (!in) fail(where, "cannot open");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail(where, "not valid JSON: ", e.what());
    }
    peft_adapter a{lora_adapter_config_from_json(j, where), safetensors_file(dir / peft_weights_file)};
    validate_peft_weights(a.config, a.weights);
    return a;
}

}  // namespace lethe::io

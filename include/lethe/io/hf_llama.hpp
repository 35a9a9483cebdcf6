// lethe/io/hf_llama.hpp - a Hugging Face Llama directory in and out:
//   config.json             LlamaConfig (model::config_from_json)
//   model.safetensors       HF tensor names, F32/F16/BF16; or
//   model.safetensors.index.json + shards ({"weight_map": {name: file}})
//   tokenizer.json          byte-level BPE (tokenizer_hf.hpp)
//   tokenizer_config.json   special tokens, chat_template
//
//   auto m = lethe::io::load_hf_llama("SmolLM2-135M-Instruct/", {.max_seq = 2048});
//
// returns the struct load_gguf_llama returns. HF keeps q_proj/k_proj in the
// layout lethe computes with (RoPE on halves), so the weights load as they
// are; only GGUF files permute them.
//
// Opt-in: needs the model layer (Eigen), so lethe/io.hpp does not include it.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "../model/checkpoint.hpp"
#include "../model/config.hpp"
#include "../model/llama.hpp"
#include "chat_template.hpp"
#include "gguf_llama_model.hpp"
#include "safetensors.hpp"
#include "tokenizer_hf.hpp"

namespace lethe::io {

// Model (max_seq, slots, policy; weights fp32 or bf16: a directory has no
// quantised blocks), tokenizer and chat template from an HF directory.
gguf_llama_model load_hf_llama(const std::filesystem::path& dir, const gguf_llama_options& opt = {});

// Loads the parameters of `m` from dir's model.safetensors or, without it,
// from the shards of model.safetensors.index.json.
void load_hf_llama_weights(const std::filesystem::path& dir, lethe::model::llama<float>& m);

// config.json + model.safetensors (save_pretrained) + tokenizer.json +
// tokenizer_config.json, each file atomic.
void save_hf_llama(const std::filesystem::path& dir, const lethe::model::llama<float>& m, const bpe_tokenizer& tok,
                   std::string_view chat_template_text, io::dtype stored = io::dtype::f32);

// ---- implementation -----------------------------------------------------------

inline void load_hf_llama_weights(const std::filesystem::path& dir, lethe::model::llama<float>& m) {
    constexpr std::string_view where = "lethe::io::load_hf_llama";
    auto& params = m.params();
    const auto single = dir / "model.safetensors";
    const auto index = dir / "model.safetensors.index.json";
    std::map<std::string, std::unique_ptr<safetensors_file>> files;
    nlohmann::json weight_map;
    const bool sharded = !std::filesystem::exists(single);
    if (sharded) {
        require(std::filesystem::exists(index), where, dir.string(), ": neither model.safetensors nor "
                "model.safetensors.index.json exists");
        const auto j = read_json_file(index, where);
        require(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), where, index.string(),
                ": field 'weight_map' is missing or not an object");
        weight_map = j["weight_map"];
    }
    const auto file_for = [&](const std::string& name) -> const safetensors_file& {
        std::string shard = "model.safetensors";
        if (sharded) {
            require(weight_map.contains(name), where, index.string(), ": weight_map has no entry for '", name, "'");
            require(weight_map[name].is_string(), where, index.string(), ": weight_map['", name, "'] is not a file name");
            shard = weight_map[name].get<std::string>();
            require(shard.find('/') == std::string::npos && shard != ".." && !shard.empty(), where, index.string(),
                    ": weight_map['", name, "'] = '", shard, "' is not a file in the directory");
        }
        auto& f = files[shard];
        if (!f) f = std::make_unique<safetensors_file>(dir / shard);
        return *f;
    };
    for (const auto& t : params.layout().tensors()) {
        const auto& f = file_for(t.name);
        require(f.contains(t.name), where, f.label(), ": missing tensor '", t.name, "'");
        float* p = params.data() + t.offset;
        if (t.is_vector) f.load_into(t.name, {std::int64_t(t.cols)}, p);
        else f.load_into(t.name, {std::int64_t(t.rows), std::int64_t(t.cols)}, p);
    }
}

inline gguf_llama_model load_hf_llama(const std::filesystem::path& dir, const gguf_llama_options& opt) {
    constexpr std::string_view where = "lethe::io::load_hf_llama";
    require(opt.weights != lethe::model::weight_storage::quantized, where, dir.string(),
            ": an HF directory has no quantised blocks (weights: fp32 or bf16)");
    const auto config_path = dir / "config.json";
    auto j = read_json_file(config_path, where);
    if (j.is_object() && opt.max_seq > 0) j["max_position_embeddings"] = opt.max_seq;
    lethe::model::llama_config cfg;
    try {
        cfg = lethe::model::config_from_json(j);
    } catch (const error& e) {
        fail(where, config_path.string(), ": ", e.what());
    }
    std::string jinja;
    bpe_tokenizer tok = load_hf_tokenizer(dir, &jinja);
    chat_template chat = jinja.empty() ? chat_template(chat_format::chatml)
                                       : chat_template_from_jinja(jinja, (dir / "tokenizer_config.json").string());
    gguf_llama_model out{lethe::model::llama<float>(cfg, opt.policy), std::move(tok), chat, std::move(jinja)};
    load_hf_llama_weights(dir, out.model);
    out.model.set_inference_weights(opt.weights);
    out.model.set_num_slots(opt.slots);
    return out;
}

inline void save_hf_llama(const std::filesystem::path& dir, const lethe::model::llama<float>& m,
                          const bpe_tokenizer& tok, std::string_view chat_template_text, io::dtype stored) {
    require(!(m.lora() && !m.lora()->merged), "lethe::io::save_hf_llama", dir.string(),
            ": the model's LoRA adapters are not merged (merge_lora() first, or save them with io/peft.hpp)");
    lethe::model::save_pretrained(m, dir, stored);
    write_hf_tokenizer(dir, tok, chat_template_text);
}

}  // namespace lethe::io

// lethe/io/gguf_llama_model.hpp - one call from a GGUF "llama" file to a
// ready-to-decode lethe::model::llama<float>, its tokenizer and chat template.
//
//   auto m = lethe::io::load_gguf_llama("SmolLM2-135M-Instruct.Q4_1.gguf", {.max_seq = 2048});
//   auto ids = m.tokenizer.encode(m.chat.render(messages, true), {.add_special = true, .parse_special = true});
//   m.model.prefill(...);  // lethe::causal_lm
//
// The weights are dequantised to fp32 at load (4 bytes per parameter:
// SmolLM2-135M holds 135M parameters, 540 MB resident, plus the KV cache of
// 2 * n_layers * max_seq * kv_dim floats per slot). The file's mapping is
// released when the call returns.
//
// Opt-in: needs the model layer (Eigen), so lethe/io.hpp does not include it.
#pragma once

#include <algorithm>
#include <filesystem>
#include <span>
#include <string>
#include <utility>

#include "../core/execution.hpp"
#include "../model/config.hpp"
#include "../model/llama.hpp"
#include "chat_template.hpp"
#include "gguf.hpp"
#include "gguf_llama.hpp"
#include "tokenizer.hpp"

namespace lethe::io {

struct gguf_llama_options {
    index_t max_seq = 2048;          // KV-cache length per slot (<= 0: the file's context_length)
    index_t slots = 1;               // KV-cache slots allocated (set_num_slots)
    openmp_policy policy = par;      // threads for the load and for the model
    // What prefill/step read: fp32 params, or a bf16 copy of every matrix
    // (half the bytes per decoded token; +2 bytes per parameter resident).
    lethe::model::weight_storage weights = lethe::model::weight_storage::fp32;
};

struct gguf_llama_model {
    lethe::model::llama<float> model;
    bpe_tokenizer tokenizer;
    chat_template chat;  // from tokenizer.chat_template (ChatML or Llama-3)
};

// The chat format a GGUF file's `tokenizer.chat_template` (a Jinja text)
// uses, recognised by its turn markers; ChatML when the key is absent.
inline chat_template gguf_chat_template(const gguf_file& f) {
    const auto* v = f.find("tokenizer.chat_template");
    if (v == nullptr) return chat_template(chat_format::chatml);
    const std::string& t = v->as_string("tokenizer.chat_template");
    if (t.find("<|im_start|>") != std::string::npos) return chat_template(chat_format::chatml);
    if (t.find("<|start_header_id|>") != std::string::npos) return chat_template(chat_format::llama3);
    fail("lethe::io::gguf_chat_template", f.source(),
         ": tokenizer.chat_template is neither ChatML nor Llama-3 (lethe renders only those two)");
}

// Dequantises every tensor of `f` into `m`'s parameters (HF names; q/k rows
// un-permuted). Throws when a model tensor has no GGUF source, a size
// differs, or the file holds a tensor the model has no place for.
inline void load_gguf_llama_weights(const gguf_file& f, lethe::model::llama<float>& m, openmp_policy pol = par) {
    constexpr std::string_view where = "lethe::io::load_gguf_llama_weights";
    const auto hf = gguf_llama_hf_tensors(f);
    auto& params = m.params();
    std::size_t used = 0;
    for (const auto& t : params.layout().tensors()) {
        const auto it = std::find_if(hf.begin(), hf.end(), [&](const gguf_hf_tensor& h) { return h.hf_name == t.name; });
        require(it != hf.end(), where, f.source(), ": no tensor for model parameter '", t.name, "'");
        const std::int64_t want = (t.is_vector ? 1 : t.rows) * t.cols;
        require(it->source->elements == want, where, f.source(), ": '", t.name, "' holds ", it->source->elements,
                " values, the model expects ", want);
        gguf_load_hf_tensor(pol, *it, std::span<float>(params.data() + t.offset, static_cast<std::size_t>(want)));
        ++used;
    }
    require(used == hf.size(), where, f.source(), ": ", hf.size() - used,
            " tensors of the file have no place in the model (e.g. a separate output head with tied embeddings)");
}

// Model, tokenizer and chat template from one GGUF file.
inline gguf_llama_model load_gguf_llama(const std::filesystem::path& path, const gguf_llama_options& opt = {}) {
    const gguf_file f = gguf_file::open(path);
    const auto cfg = lethe::model::config_from_json(gguf_llama_hf_config(f, opt.max_seq > 0 ? opt.max_seq : 0));
    gguf_llama_model out{lethe::model::llama<float>(cfg, opt.policy), bpe_tokenizer::from_gguf(f),
                         gguf_chat_template(f)};
    load_gguf_llama_weights(f, out.model, opt.policy);
    out.model.set_inference_weights(opt.weights);
    out.model.set_num_slots(opt.slots);
    return out;
}

}  // namespace lethe::io

// lethe/io/gguf_llama.hpp - a GGUF "llama" model seen with Hugging Face names.
//
// llama.cpp's converter renames tensors (model.layers.N.self_attn.q_proj.weight
// -> blk.N.attn_q.weight), stores dims fastest-first (HF [out, in] becomes
// ggml [in, out]; the bytes are the same row-major matrix), and permutes the
// rows of q_proj and k_proj inside each head so that its RoPE can rotate
// adjacent pairs (x[2i], x[2i+1]) instead of HF's halves (x[i], x[i + hd/2]):
//   gguf row  h*hd + 2*i + a   holds   HF row  h*hd + a*hd/2 + i   (a in {0,1}).
// This header undoes all three, so a model that follows HF conventions
// (lethe::model::llama) can load the file by its usual names. The model
// layer builds on it; io does not depend on the model.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gguf.hpp"

namespace lethe::io {

// Where scripts/get-smollm2 puts SmolLM2-135M-Instruct.Q4_1.gguf:
// $LETHE_SMOLLM2 if set, else $LETHE_CACHE (default ~/.cache/lethe)/<file>.
inline std::filesystem::path smollm2_path() {
    if (const char* p = std::getenv("LETHE_SMOLLM2")) return p;
    const char* cache = std::getenv("LETHE_CACHE");
    const char* home = std::getenv("HOME");
    const std::filesystem::path dir =
        cache ? std::filesystem::path(cache) : std::filesystem::path(home ? home : "/root") / ".cache/lethe";
    return dir / "SmolLM2-135M-Instruct.Q4_1.gguf";
}

// Hugging Face config.json fields (LlamaConfig) from the GGUF metadata.
// `max_positions` > 0 overrides max_position_embeddings (the KV-cache length
// a model allocates from it).
nlohmann::json gguf_llama_hf_config(const gguf_file& f, std::int64_t max_positions = 0);

struct gguf_hf_tensor {
    std::string hf_name;              // e.g. "model.layers.3.mlp.down_proj.weight"
    std::vector<std::int64_t> shape;  // HF order: [out, in] or [n]
    const gguf_tensor_info* source = nullptr;
    std::int64_t rope_heads = 0;      // > 0: rows to un-permute in groups of head_dim
};

// Every tensor of the file with its HF name (throws for a tensor it cannot map).
std::vector<gguf_hf_tensor> gguf_llama_hf_tensors(const gguf_file& f);

// The file row that holds HF row r of a q/k projection with heads of hd
// rows (the inverse of the converter's permutation above).
LETHE_HD constexpr index_t gguf_rope_source_row(index_t r, index_t hd) noexcept {
    const index_t h = r / hd, w = r % hd, half = hd / 2;
    return h * hd + 2 * (w % half) + w / half;
}

// Dequantises one tensor into dst (row-major HF layout, un-permuted).
template <execution_policy P>
void gguf_load_hf_tensor(const P& pol, const gguf_hf_tensor& t, std::span<float> dst) {
    constexpr std::string_view where = "lethe::io::gguf_load_hf_tensor";
    const gguf_tensor_info& s = *t.source;
    require(static_cast<std::int64_t>(dst.size()) == s.elements, where, t.hf_name, ": destination holds ", dst.size(),
            " floats, tensor has ", s.elements);
    if (t.rope_heads == 0) {
        dequantize_rows(pol, s.type, s.data, s.bytes, s.rows(), s.row_elements(), dst.data());
        return;
    }
    const std::int64_t rows = s.rows(), cols = s.row_elements();
    require(t.rope_heads > 0 && rows % t.rope_heads == 0 && (rows / t.rope_heads) % 2 == 0, where, t.hf_name, ": ", rows,
            " rows do not split into ", t.rope_heads, " heads of even size");
    const std::int64_t hd = rows / t.rope_heads;
    const index_t row_bytes = ggml_row_bytes(s.type, cols);
    const auto* base = s.data;
    float* out = dst.data();
    const ggml_type type = s.type;
    pol.parallel_for(rows, [=] LETHE_HD(index_t r) {
        dequantize_row(type, base + gguf_rope_source_row(r, hd) * row_bytes, out + r * cols, cols);
    });
}

// ---- implementation -----------------------------------------------------------

inline nlohmann::json gguf_llama_hf_config(const gguf_file& f, std::int64_t max_positions) {
    constexpr std::string_view where = "lethe::io::gguf_llama_hf_config";
    const std::string& arch = f.get_string("general.architecture");
    require(arch == "llama", where, f.source(), ": architecture '", arch, "' is not 'llama'");
    const auto key = [&](std::string_view k) { return "llama." + std::string(k); };
    const std::int64_t heads = f.get_i64(key("attention.head_count"));
    const std::int64_t kv_heads =
        f.find(key("attention.head_count_kv")) ? f.get_i64(key("attention.head_count_kv")) : heads;
    const std::int64_t d = f.get_i64(key("embedding_length"));
    require(heads > 0 && d % heads == 0, where, f.source(), ": head_count ", heads, " does not divide ", d);
    require(kv_heads > 0 && heads % kv_heads == 0, where, f.source(), ": head_count_kv ", kv_heads,
            " does not divide head_count ", heads);
    if (f.find(key("rope.dimension_count")))
        require(f.get_i64(key("rope.dimension_count")) == d / heads, where, f.source(),
                ": partial rotary embeddings (rope.dimension_count ", f.get_i64(key("rope.dimension_count")),
                " != head_dim ", d / heads, ") are not supported");
    if (const auto* scaling = f.find(key("rope.scaling.type")))
        require(scaling->as_string(key("rope.scaling.type")) == "none", where, f.source(), ": RoPE scaling '",
                scaling->text, "' is not supported");
    std::int64_t vocab = 0;
    if (f.find(key("vocab_size"))) vocab = f.get_i64(key("vocab_size"));
    else {
        const auto& embd = f.tensor("token_embd.weight");
        require(embd.dims.size() == 2, where, f.source(), ": token_embd.weight has ", embd.dims.size(),
                " dimensions, not 2 (hidden, vocab)");
        vocab = embd.dims[1];
    }
    const std::int64_t ctx = f.find(key("context_length")) ? f.get_i64(key("context_length")) : 2048;
    return nlohmann::json{
        {"architectures", {"LlamaForCausalLM"}},
        {"vocab_size", vocab},
        {"hidden_size", d},
        {"num_hidden_layers", f.get_i64(key("block_count"))},
        {"num_attention_heads", heads},
        {"num_key_value_heads", kv_heads},
        {"intermediate_size", f.get_i64(key("feed_forward_length"))},
        {"max_position_embeddings", max_positions > 0 ? max_positions : ctx},
        {"rope_theta", f.find(key("rope.freq_base")) ? f.get_f64(key("rope.freq_base")) : 10000.0},
        {"rms_norm_eps", f.get_f64(key("attention.layer_norm_rms_epsilon"))},
        {"tie_word_embeddings", f.find_tensor("output.weight") == nullptr},
        {"hidden_act", "silu"},
    };
}

inline std::vector<gguf_hf_tensor> gguf_llama_hf_tensors(const gguf_file& f) {
    constexpr std::string_view where = "lethe::io::gguf_llama_hf_tensors";
    const std::int64_t heads = f.get_i64("llama.attention.head_count");
    const std::int64_t kv_heads =
        f.find("llama.attention.head_count_kv") ? f.get_i64("llama.attention.head_count_kv") : heads;
    // The q/k rows are un-permuted in groups of rows / heads: both counts must be positive.
    require(heads > 0 && kv_heads > 0, where, f.source(), ": head_count ", heads, " and head_count_kv ", kv_heads,
            " must be positive");
    static const std::pair<std::string_view, std::string_view> per_layer[] = {
        {"attn_norm.weight", "input_layernorm.weight"},
        {"ffn_norm.weight", "post_attention_layernorm.weight"},
        {"attn_q.weight", "self_attn.q_proj.weight"},
        {"attn_k.weight", "self_attn.k_proj.weight"},
        {"attn_v.weight", "self_attn.v_proj.weight"},
        {"attn_output.weight", "self_attn.o_proj.weight"},
        {"ffn_gate.weight", "mlp.gate_proj.weight"},
        {"ffn_up.weight", "mlp.up_proj.weight"},
        {"ffn_down.weight", "mlp.down_proj.weight"},
    };
    std::vector<gguf_hf_tensor> out;
    out.reserve(f.tensors().size());
    for (const auto& t : f.tensors()) {
        gguf_hf_tensor h;
        h.source = &t;
        h.shape.assign(t.dims.rbegin(), t.dims.rend());
        const std::string_view n = t.name;
        if (n == "token_embd.weight") h.hf_name = "model.embed_tokens.weight";
        else if (n == "output_norm.weight") h.hf_name = "model.norm.weight";
        else if (n == "output.weight") h.hf_name = "lm_head.weight";
        else if (n.starts_with("blk.")) {
            const std::size_t dot = n.find('.', 4);
            const std::string_view layer = n.substr(4, dot == std::string_view::npos ? 0 : dot - 4);
            const std::string_view rest = dot == std::string_view::npos ? std::string_view{} : n.substr(dot + 1);
            for (const auto& [g, hf] : per_layer)
                if (rest == g) h.hf_name = "model.layers." + std::string(layer) + "." + std::string(hf);
            if (rest == "attn_q.weight") h.rope_heads = heads;
            if (rest == "attn_k.weight") h.rope_heads = kv_heads;
        } else if (n == "rope_freqs.weight") {
            fail(where, f.source(), ": tensor 'rope_freqs.weight' (RoPE frequency factors) is not supported");
        }
        require(!h.hf_name.empty(), where, f.source(), ": no Hugging Face name for tensor '", t.name, "'");
        out.push_back(std::move(h));
    }
    return out;
}

}  // namespace lethe::io

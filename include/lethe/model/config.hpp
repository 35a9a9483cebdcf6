// lethe/model/config.hpp - the run-time shape of a Llama-family transformer.
//
// One struct with the Hugging Face LlamaConfig fields lethe needs, checked by
// validate() before anything is allocated, and read from / written to the
// same JSON keys as a Hugging Face config.json.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "../core/config.hpp"
#include "../core/error.hpp"

namespace lethe::model {

struct llama_config {
    index_t vocab = 256;        // vocab_size
    index_t d_model = 64;       // hidden_size
    index_t n_layers = 2;       // num_hidden_layers
    index_t n_heads = 4;        // num_attention_heads
    index_t n_kv_heads = 4;     // num_key_value_heads (grouped-query attention when < n_heads)
    index_t d_ff = 172;         // intermediate_size (SwiGLU width)
    index_t max_seq = 256;      // max_position_embeddings: RoPE table and KV-cache length
    double rope_theta = 10000.0;
    double norm_eps = 1e-5;     // rms_norm_eps
    bool tied_embeddings = false;  // tie_word_embeddings: lm_head shares model.embed_tokens.weight

    index_t head_dim() const noexcept { return n_heads > 0 ? d_model / n_heads : 0; }
    index_t q_dim() const noexcept { return n_heads * head_dim(); }
    index_t kv_dim() const noexcept { return n_kv_heads * head_dim(); }

    // Throws lethe::error naming the first inconsistent field.
    void validate() const {
        constexpr const char* where = "llama_config";
        require(vocab > 0, where, "vocab_size must be positive, got ", vocab);
        require(d_model > 0, where, "hidden_size must be positive, got ", d_model);
        require(n_layers > 0, where, "num_hidden_layers must be positive, got ", n_layers);
        require(n_heads > 0, where, "num_attention_heads must be positive, got ", n_heads);
        require(d_model % n_heads == 0, where, "num_attention_heads (", n_heads, ") does not divide hidden_size (",
                d_model, ")");
        require(head_dim() % 2 == 0, where, "head_dim (", head_dim(), ") must be even for RoPE");
        require(n_kv_heads > 0, where, "num_key_value_heads must be positive, got ", n_kv_heads);
        require(n_heads % n_kv_heads == 0, where, "num_key_value_heads (", n_kv_heads,
                ") does not divide num_attention_heads (", n_heads, ")");
        require(d_ff > 0, where, "intermediate_size must be positive, got ", d_ff);
        require(max_seq > 0, where, "max_position_embeddings must be positive, got ", max_seq);
        require(rope_theta > 1.0, where, "rope_theta must be > 1, got ", rope_theta);
        require(norm_eps > 0.0, where, "rms_norm_eps must be positive, got ", norm_eps);
        require(vocab <= INT32_MAX, where, "vocab_size ", vocab, " does not fit token ids (int32)");
    }

    // Parameters, counting a tied head once.
    index_t num_parameters() const noexcept {
        const index_t per_layer = 2 * d_model + d_model * q_dim() + 2 * d_model * kv_dim() + q_dim() * d_model +
                                  3 * d_model * d_ff;
        return vocab * d_model * (tied_embeddings ? 1 : 2) + n_layers * per_layer + d_model;
    }

    // Matmul FLOPs per token of one forward pass (2 per multiply-add),
    // attention scores excluded; a training step costs about 3x this.
    double forward_flops_per_token() const noexcept {
        const double d = double(d_model);
        const double per_layer = 2.0 * d * (double(q_dim()) + 2.0 * double(kv_dim())) + 2.0 * double(q_dim()) * d +
                                 6.0 * d * double(d_ff);
        return double(n_layers) * per_layer + 2.0 * d * double(vocab);
    }
};

// Hugging Face config.json keys.
inline nlohmann::json to_json(const llama_config& c) {
    return nlohmann::json{{"architectures", {"LlamaForCausalLM"}},
                          {"model_type", "llama"},
                          {"vocab_size", c.vocab},
                          {"hidden_size", c.d_model},
                          {"num_hidden_layers", c.n_layers},
                          {"num_attention_heads", c.n_heads},
                          {"num_key_value_heads", c.n_kv_heads},
                          {"intermediate_size", c.d_ff},
                          {"max_position_embeddings", c.max_seq},
                          {"rope_theta", c.rope_theta},
                          {"rms_norm_eps", c.norm_eps},
                          {"tie_word_embeddings", c.tied_embeddings},
                          {"hidden_act", "silu"}};
}

inline llama_config config_from_json(const nlohmann::json& j) {
    constexpr const char* where = "llama_config (json)";
    require(j.is_object(), where, "expected an object");
    llama_config c;
    auto get_int = [&](const char* key, index_t& out, bool required) {
        if (!j.contains(key)) {
            require(!required, where, "missing field '", key, "'");
            return;
        }
        require(j[key].is_number_integer(), where, "field '", key, "' must be an integer");
        out = j[key].get<index_t>();
    };
    get_int("vocab_size", c.vocab, true);
    get_int("hidden_size", c.d_model, true);
    get_int("num_hidden_layers", c.n_layers, true);
    get_int("num_attention_heads", c.n_heads, true);
    c.n_kv_heads = c.n_heads;
    get_int("num_key_value_heads", c.n_kv_heads, false);
    get_int("intermediate_size", c.d_ff, true);
    get_int("max_position_embeddings", c.max_seq, false);
    if (j.contains("rope_theta")) {
        require(j["rope_theta"].is_number(), where, "field 'rope_theta' must be a number");
        c.rope_theta = j["rope_theta"].get<double>();
    }
    if (j.contains("rms_norm_eps")) {
        require(j["rms_norm_eps"].is_number(), where, "field 'rms_norm_eps' must be a number");
        c.norm_eps = j["rms_norm_eps"].get<double>();
    }
    if (j.contains("tie_word_embeddings")) {
        require(j["tie_word_embeddings"].is_boolean(), where, "field 'tie_word_embeddings' must be a boolean");
        c.tied_embeddings = j["tie_word_embeddings"].get<bool>();
    }
    if (j.contains("hidden_act"))
        require(j["hidden_act"] == "silu", where, "hidden_act '", j["hidden_act"].dump(), "' is not supported (silu only)");
    c.validate();
    return c;
}

}  // namespace lethe::model

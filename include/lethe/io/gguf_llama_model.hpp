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
// released when the call returns. Inference may read a second copy
// (gguf_llama_options::weights): bf16 (+2 bytes per weight), or the file's
// own blocks (quantized: +96 MB for SmolLM2's Q4_1/Q8_0, about a quarter of
// the fp32 bytes), which decode multiplies by directly.
//
// Opt-in: needs the model layer (Eigen), so lethe/io.hpp does not include it.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
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
#include "gguf_matvec.hpp"
#include "tokenizer.hpp"

namespace lethe::io {

struct gguf_llama_options {
    index_t max_seq = 2048;          // KV-cache length per slot (<= 0: the file's context_length)
    index_t slots = 1;               // KV-cache slots allocated (set_num_slots)
    openmp_policy policy = par;      // threads for the load and for the model
    // What prefill/step read: fp32 params, a bf16 copy of every matrix
    // (half the bytes per decoded token; +2 bytes per parameter resident), or
    // the file's quantised blocks for decode-sized batches (quantized: the
    // file's bytes per token; prefill reads the fp32 params).
    lethe::model::weight_storage weights = lethe::model::weight_storage::fp32;
};

struct gguf_llama_model {
    lethe::model::llama<float> model;
    bpe_tokenizer tokenizer;
    chat_template chat;  // from tokenizer.chat_template (ChatML or Llama-3)
    std::string chat_template_text;  // that template's Jinja text as stored (empty when the file has none)
};

// The chat format a GGUF file's `tokenizer.chat_template` (a Jinja text)
// uses, recognised by its turn markers; ChatML when the key is absent.
inline chat_template gguf_chat_template(const gguf_file& f) {
    const auto* v = f.find("tokenizer.chat_template");
    if (v == nullptr) return chat_template(chat_format::chatml);
    return chat_template_from_jinja(v->as_string("tokenizer.chat_template"), f.source() + ": tokenizer.chat_template");
}

namespace detail {
// model::quantized_format kernels for ggml type T (function pointers need
// one function per type).
template <ggml_type T>
void ggml_prepare_input(const float* x, index_t cols, float* aux) noexcept {
    quantized_block_sums(x, cols, aux);
}
template <ggml_type T>
void ggml_dot_rows(const unsigned char* w, index_t row_bytes, index_t cols, const float* x, const float* aux,
                   index_t aux_stride, index_t n, index_t j0, index_t j1, float* y, index_t y_stride,
                   bool accumulate) noexcept {
    quantized_dot_rows(T, w, row_bytes, cols, x, aux, aux_stride, n, j0, j1, y, y_stride, accumulate);
}
template <ggml_type T>
void ggml_dequantize_row(const unsigned char* row, float* out, index_t cols) noexcept {
    dequantize_row(T, row, out, cols);
}
template <ggml_type T>
constexpr lethe::model::quantized_format ggml_format_of() noexcept {
    constexpr auto tr = ggml_traits(T);
    constexpr bool sums = T == ggml_type::q4_1;  // the only kernel that reads the block sums of x
    return {tr.name.data(), tr.block_elements, tr.block_bytes, sums ? 1 : 0, sums ? &ggml_prepare_input<T> : nullptr,
            &ggml_dot_rows<T>, &ggml_dequantize_row<T>};
}
template <ggml_type T>
inline constexpr lethe::model::quantized_format ggml_format = ggml_format_of<T>();
}  // namespace detail

// The model's kernel table for a ggml type (every type lethe decodes).
inline const lethe::model::quantized_format* ggml_quantized_format(ggml_type t) noexcept {
    switch (t) {
        case ggml_type::f32: return &detail::ggml_format<ggml_type::f32>;
        case ggml_type::f16: return &detail::ggml_format<ggml_type::f16>;
        case ggml_type::bf16: return &detail::ggml_format<ggml_type::bf16>;
        case ggml_type::q4_0: return &detail::ggml_format<ggml_type::q4_0>;
        case ggml_type::q4_1: return &detail::ggml_format<ggml_type::q4_1>;
        case ggml_type::q5_0: return &detail::ggml_format<ggml_type::q5_0>;
        case ggml_type::q5_1: return &detail::ggml_format<ggml_type::q5_1>;
        case ggml_type::q8_0: return &detail::ggml_format<ggml_type::q8_0>;
        case ggml_type::q4_k: return &detail::ggml_format<ggml_type::q4_k>;
        case ggml_type::q5_k: return &detail::ggml_format<ggml_type::q5_k>;
        case ggml_type::q6_k: return &detail::ggml_format<ggml_type::q6_k>;
    }
    return nullptr;
}

// The file's matrices as the model's quantised inference weights: one entry
// per tensor of `layout` (HF names), the blocks copied out of the mapping
// (rows of q/k un-permuted, so row j is HF row j) into memory the result
// owns. F32 matrices and vectors get no entry (the model reads params()).
inline lethe::model::quantized_weights gguf_llama_quantized_weights(const gguf_file& f,
                                                                    const lethe::model::parameter_layout& layout,
                                                                    openmp_policy pol = par) {
    constexpr std::string_view where = "lethe::io::gguf_llama_quantized_weights";
    const auto hf = gguf_llama_hf_tensors(f);
    const auto& tensors = layout.tensors();
    std::vector<const gguf_hf_tensor*> source(tensors.size(), nullptr);
    std::vector<index_t> at(tensors.size(), 0);
    index_t total = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        if (t.is_vector) continue;
        const auto it = std::find_if(hf.begin(), hf.end(), [&](const gguf_hf_tensor& h) { return h.hf_name == t.name; });
        require(it != hf.end(), where, f.source(), ": no tensor for model parameter '", t.name, "'");
        const gguf_tensor_info& s = *it->source;
        require(s.rows() == t.rows && s.row_elements() == t.cols, where, f.source(), ": '", t.name, "' is ", s.rows(),
                " x ", s.row_elements(), ", the model expects ", t.rows, " x ", t.cols);
        if (s.type == ggml_type::f32) continue;
        source[i] = &*it;
        at[i] = total;
        total += (s.rows() * ggml_row_bytes(s.type, s.row_elements()) + 63) / 64 * 64;  // matrices on cache lines
    }
    auto bytes = std::make_shared<std::vector<unsigned char>>(static_cast<std::size_t>(total));
    lethe::model::quantized_weights q;
    q.matrices.resize(tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        if (source[i] == nullptr) continue;
        const gguf_hf_tensor& h = *source[i];
        const gguf_tensor_info& s = *h.source;
        const index_t rows = s.rows(), cols = s.row_elements(), row_bytes = ggml_row_bytes(s.type, cols);
        require(s.bytes >= rows * row_bytes, where, f.source(), ": '", s.name, "' holds ", s.bytes, " bytes, ", rows,
                " rows need ", rows * row_bytes);
        require(h.rope_heads == 0 || (rows % h.rope_heads == 0 && (rows / h.rope_heads) % 2 == 0), where, f.source(),
                ": '", s.name, "': ", rows, " rows do not split into ", h.rope_heads, " heads of even size");
        const index_t hd = h.rope_heads > 0 ? rows / h.rope_heads : 0;
        unsigned char* dst = bytes->data() + at[i];
        const unsigned char* src = s.data;
        pol.parallel_for(rows, [=](index_t r) {
            const index_t from = hd > 0 ? gguf_rope_source_row(r, hd) : r;
            std::memcpy(dst + r * row_bytes, src + from * row_bytes, static_cast<std::size_t>(row_bytes));
        });
        q.matrices[i] = {ggml_quantized_format(s.type), dst, rows, cols, row_bytes};
    }
    q.bytes = static_cast<std::size_t>(total);
    q.owner = std::move(bytes);
    return q;
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
                         gguf_chat_template(f), ""};
    if (const auto* t = f.find("tokenizer.chat_template")) out.chat_template_text = t->as_string("tokenizer.chat_template");
    load_gguf_llama_weights(f, out.model, opt.policy);
    if (opt.weights == lethe::model::weight_storage::quantized)
        out.model.set_inference_weights(gguf_llama_quantized_weights(f, out.model.params().layout(), opt.policy));
    else
        out.model.set_inference_weights(opt.weights);
    out.model.set_num_slots(opt.slots);
    return out;
}

}  // namespace lethe::io

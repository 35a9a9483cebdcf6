// lethe/io/gguf_llama_writer.hpp - a lethe::model::llama<float> (merged
// weights), its tokenizer and chat template as a GGUF "llama" file that
// llama.cpp loads, and LoRA adapters as a llama.cpp LoRA GGUF (--lora).
//
// Model file: the inverse of gguf_llama.hpp / gguf_llama_model.hpp, with
// what llama.cpp's convert_hf_to_gguf.py writes for a Llama:
//   general.architecture = "llama", general.name, general.file_type,
//   llama.{context_length, embedding_length, block_count, feed_forward_length,
//          rope.dimension_count, rope.freq_base, attention.head_count,
//          attention.head_count_kv, attention.layer_norm_rms_epsilon, vocab_size},
//   tokenizer.ggml.{model = "gpt2", pre, tokens, token_type, merges,
//          bos/eos/unknown/padding_token_id, add_bos_token, add_eos_token},
//   tokenizer.chat_template;
//   tensors token_embd / blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output,
//   ffn_norm, ffn_gate, ffn_up, ffn_down} / output_norm / output (.weight;
//   no output.weight with tied embeddings), dims fastest first (an HF
//   [out, in] matrix is ggml [in, out], the same row-major bytes), and the
//   rows of attn_q / attn_k permuted within each head as the converter does
//   (gguf row h*hd + 2i + a holds HF row h*hd + a*hd/2 + i; the reader's
//   gguf_rope_source_row undoes exactly this). Norm vectors stay F32;
//   matrices are F32, F16, BF16 or Q8_0 (options.matrices).
//   The f32 metadata (rms_norm_eps, rope_theta) holds the config's values
//   rounded to float: the model computes with float(norm_eps), so F32
//   files reload to bit-identical logits.
//
// LoRA file (llama.cpp src/llama-adapter.cpp reads it; convert_lora_to_gguf.py
// writes it): general.type = "adapter", adapter.type = "lora",
// adapter.lora.alpha (f32), general.architecture = "llama"; for each adapted
// base tensor <t> (e.g. blk.0.attn_q.weight) the tensors <t>.lora_a with
// ggml dims [in, r] (PEFT's A [r, in], same bytes) and <t>.lora_b with dims
// [r, out] (PEFT's B [out, r]). llama.cpp adds scale * B (A x) with
// scale = alpha / r (r = lora_b's dims[0]), PEFT's scaling. lora_b of
// attn_q / attn_k gets the base file's row permutation (the converter does
// the same: the rows of B A are the rows of B), lora_a none.
//
// Opt-in: needs the model layer (Eigen), so lethe/io.hpp does not include it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <unordered_map>
#include <string>
#include <string_view>
#include <vector>

#include "../model/config.hpp"
#include "../model/llama.hpp"
#include "../model/lora.hpp"
#include "chat_template.hpp"
#include "gguf_llama.hpp"
#include "gguf_writer.hpp"
#include "tokenizer.hpp"

namespace lethe::io {

struct gguf_llama_write_options {
    ggml_type matrices = ggml_type::f32;  // 2-D weights: f32, f16, bf16 or q8_0 (vectors stay f32)
    std::string name = "lethe";           // general.name
    std::string pre = "";                 // tokenizer.ggml.pre; empty: "smollm" (digits first) or "gpt2"
    index_t context_length = 0;           // llama.context_length; <= 0: the model's max_seq
    // Write params() although LoRA adapters are enabled and not merged into
    // them (the base of a separate adapter file); otherwise that throws.
    bool allow_unmerged_lora = false;
};

struct gguf_lora_write_options {
    ggml_type type = ggml_type::f32;  // lora_a / lora_b: f32, f16 or bf16
    std::string name = "lethe-lora";  // general.name
};

// The GGUF name of an HF Llama tensor ("model.layers.3.mlp.down_proj.weight"
// -> "blk.3.ffn_down.weight"); throws for names outside the Llama layout.
std::string gguf_llama_tensor_name(std::string_view hf_name);

// tokenizer.ggml.* keys of `tok` (model "gpt2"); `vocab` > tok.size() pads
// the vocabulary with unused "[PAD<i>]" tokens, as llama.cpp's converter does
// for an embedding larger than the tokenizer. `pre` empty: from the
// tokenizer's pre-tokenizer kind.
void add_gguf_tokenizer(gguf_writer& w, const bpe_tokenizer& tok, index_t vocab = 0, std::string_view pre = {});

// Merged model + tokenizer + chat template (a Jinja text; see
// chat_template_jinja for a format's canonical one) into one GGUF file,
// written atomically.
void write_gguf_llama(const std::filesystem::path& path, const lethe::model::llama<float>& m,
                      const bpe_tokenizer& tok, std::string_view chat_template_text,
                      const gguf_llama_write_options& opt = {});
void write_gguf_llama(const std::filesystem::path& path, const lethe::model::llama<float>& m,
                      const bpe_tokenizer& tok, const chat_template& chat, const gguf_llama_write_options& opt = {});

// The model's adapters (base config `cfg`) as a llama.cpp LoRA GGUF.
void write_gguf_lora(const std::filesystem::path& path, const lethe::model::lora_adapters<float>& lora,
                     const lethe::model::llama_config& cfg, const gguf_lora_write_options& opt = {});
// The adapters of `m` (throws when LoRA is not enabled).
void write_gguf_lora(const std::filesystem::path& path, const lethe::model::llama<float>& m,
                     const gguf_lora_write_options& opt = {});

// Reads a llama.cpp LoRA GGUF (as written above, or by convert_lora_to_gguf.py
// with F32/F16/BF16/Q8_0 tensors) into `m`: enables LoRA with the file's
// rank, alpha and target modules (dropout 0) and fills A and B (lora_b rows
// of attn_q / attn_k un-permuted). Throws naming the file when the adapter
// does not fit the model or adapts only some layers of a module.
void load_gguf_lora(const std::filesystem::path& path, lethe::model::llama<float>& m);

// ---- implementation -----------------------------------------------------------

namespace gguf_llama_writer_detail {
inline constexpr std::string_view where = "lethe::io::write_gguf_llama";

// Row r of an HF q/k projection goes to file row gguf_rope_source_row(r, hd).
inline std::vector<float> permute_rope_rows(const float* src, index_t rows, index_t cols, index_t heads) {
    require(heads > 0 && rows % heads == 0 && (rows / heads) % 2 == 0, where, rows,
            " rows do not split into ", heads, " heads of even size");
    const index_t hd = rows / heads;
    std::vector<float> out(static_cast<std::size_t>(rows * cols));
    for (index_t r = 0; r < rows; ++r)
        std::copy_n(src + r * cols, cols, out.data() + gguf_rope_source_row(r, hd) * cols);
    return out;
}

// Heads whose rope permutation a tensor needs (0: none).
inline index_t rope_heads(std::string_view hf_name, const lethe::model::llama_config& c) {
    if (hf_name.ends_with(".self_attn.q_proj.weight")) return c.n_heads;
    if (hf_name.ends_with(".self_attn.k_proj.weight")) return c.n_kv_heads;
    return 0;
}

inline std::uint32_t file_type(ggml_type t) {
    switch (t) {
        case ggml_type::f32: return 0;   // LLAMA_FTYPE_ALL_F32
        case ggml_type::f16: return 1;   // MOSTLY_F16
        case ggml_type::q8_0: return 7;  // MOSTLY_Q8_0
        case ggml_type::bf16: return 32; // MOSTLY_BF16
        default: fail(where, "matrices cannot be written as ", ggml_traits(t).name, " (f32, f16, bf16, q8_0)");
    }
}

inline std::uint32_t u32_of(index_t v, std::string_view what) {
    require(v >= 0 && v <= static_cast<index_t>(UINT32_MAX), where, what, " = ", v, " does not fit u32");
    return static_cast<std::uint32_t>(v);
}
}  // namespace gguf_llama_writer_detail

inline std::string gguf_llama_tensor_name(std::string_view n) {
    if (n == "model.embed_tokens.weight") return "token_embd.weight";
    if (n == "model.norm.weight") return "output_norm.weight";
    if (n == "lm_head.weight") return "output.weight";
    static const std::pair<std::string_view, std::string_view> per_layer[] = {
        {"input_layernorm.weight", "attn_norm.weight"},   {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},     {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},     {"self_attn.o_proj.weight", "attn_output.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},      {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    constexpr std::string_view prefix = "model.layers.";
    if (n.starts_with(prefix)) {
        const std::size_t dot = n.find('.', prefix.size());
        if (dot != std::string_view::npos && dot > prefix.size()) {
            const std::string_view layer = n.substr(prefix.size(), dot - prefix.size());
            const std::string_view rest = n.substr(dot + 1);
            const bool digits = layer.find_first_not_of("0123456789") == std::string_view::npos;
            for (const auto& [hf, g] : per_layer)
                if (digits && rest == hf) return "blk." + std::string(layer) + "." + std::string(g);
        }
    }
    fail("lethe::io::gguf_llama_tensor_name", "no GGUF name for tensor '", n, "'");
}

inline void add_gguf_tokenizer(gguf_writer& w, const bpe_tokenizer& tok, index_t vocab, std::string_view pre) {
    constexpr std::string_view where = "lethe::io::add_gguf_tokenizer";
    const auto& v = tok.vocabulary();
    const index_t n = static_cast<index_t>(v.tokens.size());
    if (vocab <= 0) vocab = n;
    require(vocab >= n, where, "the tokenizer has ", n, " tokens, more than the model's vocabulary of ", vocab);
    std::vector<std::string> tokens = v.tokens;
    std::vector<std::int32_t> types;
    types.reserve(static_cast<std::size_t>(vocab));
    for (auto t : v.types) types.push_back(static_cast<std::int32_t>(t));
    for (index_t i = n; i < vocab; ++i) {
        tokens.push_back("[PAD" + std::to_string(i) + "]");
        types.push_back(static_cast<std::int32_t>(token_type::unused));
    }
    w.set("tokenizer.ggml.model", gguf_string("gpt2"));
    w.set("tokenizer.ggml.pre", gguf_string(!pre.empty() ? std::string(pre)
                                            : v.pre == pre_tokenizer_kind::digits_then_gpt2 ? "smollm" : "gpt2"));
    w.set("tokenizer.ggml.tokens", gguf_string_array(tokens));
    w.set("tokenizer.ggml.token_type", gguf_i32_array(types));
    w.set("tokenizer.ggml.merges", gguf_string_array(v.merges));
    const auto id = [&](const char* key, token_id t) {
        if (t >= 0) w.set(key, gguf_u32(static_cast<std::uint32_t>(t)));
    };
    id("tokenizer.ggml.bos_token_id", v.bos);
    id("tokenizer.ggml.eos_token_id", v.eos);
    id("tokenizer.ggml.unknown_token_id", v.unk);
    id("tokenizer.ggml.padding_token_id", v.pad);
    w.set("tokenizer.ggml.add_bos_token", gguf_bool(v.add_bos));
    w.set("tokenizer.ggml.add_eos_token", gguf_bool(v.add_eos));
}

inline void write_gguf_llama(const std::filesystem::path& path, const lethe::model::llama<float>& m,
                             const bpe_tokenizer& tok, std::string_view chat_template_text,
                             const gguf_llama_write_options& opt) {
    using namespace gguf_llama_writer_detail;
    const auto& c = m.config();
    require(!(m.lora() && !m.lora()->merged) || opt.allow_unmerged_lora, where, path.string(),
            ": the model's LoRA adapters are not merged (merge_lora() first, or write them with write_gguf_lora "
            "and set allow_unmerged_lora to write the base)");
    const std::uint32_t ftype = file_type(opt.matrices);
    gguf_writer w;
    w.set("general.architecture", gguf_string("llama"));
    w.set("general.name", gguf_string(opt.name));
    w.set("general.file_type", gguf_u32(ftype));
    if (opt.matrices == ggml_type::q8_0) w.set("general.quantization_version", gguf_u32(2));
    w.set("llama.context_length", gguf_u32(u32_of(opt.context_length > 0 ? opt.context_length : c.max_seq, "context_length")));
    w.set("llama.embedding_length", gguf_u32(u32_of(c.d_model, "hidden_size")));
    w.set("llama.block_count", gguf_u32(u32_of(c.n_layers, "num_hidden_layers")));
    w.set("llama.feed_forward_length", gguf_u32(u32_of(c.d_ff, "intermediate_size")));
    w.set("llama.rope.dimension_count", gguf_u32(u32_of(c.head_dim(), "head_dim")));
    w.set("llama.rope.freq_base", gguf_f32(static_cast<float>(c.rope_theta)));
    w.set("llama.attention.head_count", gguf_u32(u32_of(c.n_heads, "num_attention_heads")));
    w.set("llama.attention.head_count_kv", gguf_u32(u32_of(c.n_kv_heads, "num_key_value_heads")));
    w.set("llama.attention.layer_norm_rms_epsilon", gguf_f32(static_cast<float>(c.norm_eps)));
    w.set("llama.vocab_size", gguf_u32(u32_of(c.vocab, "vocab_size")));
    add_gguf_tokenizer(w, tok, c.vocab, opt.pre);
    if (!chat_template_text.empty()) w.set("tokenizer.chat_template", gguf_string(std::string(chat_template_text)));

    const auto& params = m.params();
    for (const auto& t : params.layout().tensors()) {
        const float* p = params.data() + t.offset;
        const std::string name = gguf_llama_tensor_name(t.name);
        if (t.is_vector) {
            w.add_tensor(name, {t.cols}, p, ggml_type::f32);
            continue;
        }
        ggml_type type = opt.matrices;
        if (t.cols % ggml_traits(type).block_elements != 0) type = ggml_type::f16;  // as the converter's fallback
        if (const index_t heads = rope_heads(t.name, c); heads > 0) {
            const auto permuted = permute_rope_rows(p, t.rows, t.cols, heads);
            w.add_tensor(name, {t.cols, t.rows}, permuted.data(), type);
        } else {
            w.add_tensor(name, {t.cols, t.rows}, p, type);
        }
    }
    w.write(path);
}

inline void write_gguf_llama(const std::filesystem::path& path, const lethe::model::llama<float>& m,
                             const bpe_tokenizer& tok, const chat_template& chat,
                             const gguf_llama_write_options& opt) {
    write_gguf_llama(path, m, tok, chat_template_jinja(chat.format()), opt);
}

inline void write_gguf_lora(const std::filesystem::path& path, const lethe::model::lora_adapters<float>& lora,
                            const lethe::model::llama_config& cfg, const gguf_lora_write_options& opt) {
    using namespace gguf_llama_writer_detail;
    constexpr std::string_view where_lora = "lethe::io::write_gguf_lora";
    require(opt.type == ggml_type::f32 || opt.type == ggml_type::f16 || opt.type == ggml_type::bf16, where_lora,
            "adapters are written as F32, F16 or BF16, not ", ggml_traits(opt.type).name);
    const lethe::model::llama_layout base(cfg);
    const auto& bl = base.layout;
    gguf_writer w;
    w.set("general.architecture", gguf_string("llama"));
    w.set("general.type", gguf_string("adapter"));
    w.set("general.name", gguf_string(opt.name));
    w.set("adapter.type", gguf_string("lora"));
    w.set("adapter.lora.alpha", gguf_f32(static_cast<float>(lora.config().alpha)));
    const index_t r = lora.config().rank;
    std::size_t adapted = 0;
    for (index_t t = 0; t < static_cast<index_t>(bl.tensors().size()); ++t) {
        if (!lora.adapts(t)) continue;
        const auto& info = bl[t];
        const auto& ia = lora.params.layout()[lora.a_index(t)];
        const auto& ib = lora.params.layout()[lora.b_index(t)];
        require(ia.rows == r && ia.cols == info.cols && ib.rows == info.rows && ib.cols == r, where_lora,
                "adapter of '", info.name, "' is A ", ia.rows, " x ", ia.cols, ", B ", ib.rows, " x ", ib.cols,
                "; the base config gives ", info.rows, " x ", info.cols, " at rank ", r, " (wrong config?)");
        const std::string name = gguf_llama_tensor_name(info.name);
        w.add_tensor(name + ".lora_a", {info.cols, r}, lora.params.ptr(lora.a_index(t)), opt.type);
        const float* b = lora.params.ptr(lora.b_index(t));
        if (const index_t heads = rope_heads(info.name, cfg); heads > 0) {
            const auto permuted = permute_rope_rows(b, info.rows, r, heads);
            w.add_tensor(name + ".lora_b", {r, info.rows}, permuted.data(), opt.type);
        } else {
            w.add_tensor(name + ".lora_b", {r, info.rows}, b, opt.type);
        }
        ++adapted;
    }
    require(adapted > 0, where_lora, "the adapters adapt no tensor of the base layout (wrong config?)");
    w.write(path);
}

inline void write_gguf_lora(const std::filesystem::path& path, const lethe::model::llama<float>& m,
                            const gguf_lora_write_options& opt) {
    require(m.lora() != nullptr, "lethe::io::write_gguf_lora", path.string(), ": the model has no LoRA adapters");
    write_gguf_lora(path, *m.lora(), m.config(), opt);
}

inline void load_gguf_lora(const std::filesystem::path& path, lethe::model::llama<float>& m) {
    constexpr std::string_view where = "lethe::io::load_gguf_lora";
    const gguf_file f = gguf_file::open(path);
    const auto str = [&](const char* key) { return f.find(key) ? f.get_string(key) : std::string(); };
    require(str("general.type") == "adapter", where, f.source(), ": general.type is '", str("general.type"),
            "', not 'adapter'");
    require(str("adapter.type") == "lora", where, f.source(), ": adapter.type is '", str("adapter.type"), "', not 'lora'");
    require(str("general.architecture") == "llama", where, f.source(), ": general.architecture is '",
            str("general.architecture"), "', not 'llama'");
    const double alpha = f.get_f64("adapter.lora.alpha");
    const auto& cfg = m.config();
    const auto& base = m.params().layout();
    // GGUF base name -> model tensor index.
    std::unordered_map<std::string, index_t> by_name;
    for (index_t t = 0; t < static_cast<index_t>(base.tensors().size()); ++t)
        if (!base[t].is_vector) by_name.emplace(gguf_llama_tensor_name(base[t].name), t);
    struct pair_info {
        const gguf_tensor_info *a = nullptr, *b = nullptr;
    };
    std::map<index_t, pair_info> pairs;
    index_t rank = 0;
    std::vector<std::string> targets;
    for (const auto& t : f.tensors()) {
        const bool is_a = t.name.ends_with(".lora_a"), is_b = t.name.ends_with(".lora_b");
        if (!is_a && !is_b) {
            require(t.name.ends_with("_norm.weight"), where, f.source(), ": tensor '", t.name,
                    "' is neither .lora_a nor .lora_b");
            continue;  // llama.cpp ignores norm tensors of adapters too
        }
        const std::string stem = t.name.substr(0, t.name.size() - 7);
        const auto it = by_name.find(stem);
        require(it != by_name.end(), where, f.source(), ": tensor '", t.name, "' adapts '", stem,
                "', which the model does not have");
        const auto& info = base[it->second];
        require(t.dims.size() == 2, where, f.source(), ": tensor '", t.name, "' is not a matrix");
        const std::int64_t r = is_a ? t.dims[1] : t.dims[0];
        if (rank == 0) rank = r;
        require(r == rank, where, f.source(), ": tensor '", t.name, "' has rank ", r, ", others ", rank);
        if (is_a)
            require(t.dims[0] == info.cols, where, f.source(), ": '", t.name, "' has ", t.dims[0], " inputs, '",
                    info.name, "' ", info.cols);
        else
            require(t.dims[1] == info.rows, where, f.source(), ": '", t.name, "' has ", t.dims[1], " outputs, '",
                    info.name, "' ", info.rows);
        (is_a ? pairs[it->second].a : pairs[it->second].b) = &t;
        const std::string& hf = info.name;  // "model.layers.N.<block>.<module>.weight"
        const std::size_t end = hf.size() - 7, begin = hf.rfind('.', end - 1) + 1;
        const std::string module = hf.substr(begin, end - begin);
        if (std::find(targets.begin(), targets.end(), module) == targets.end()) targets.push_back(module);
    }
    require(!pairs.empty(), where, f.source(), ": the file holds no LoRA tensors");
    for (const auto& [t, p] : pairs)
        require(p.a && p.b, where, f.source(), ": '", gguf_llama_tensor_name(base[t].name), "' lacks its ",
                p.a ? "lora_b" : "lora_a");
    lethe::model::lora_config lc;
    lc.rank = rank;
    lc.alpha = alpha;
    lc.dropout = 0.0;
    lc.targets = targets;
    m.enable_lora(lc);
    auto& lora = *m.lora();
    for (index_t t = 0; t < static_cast<index_t>(base.tensors().size()); ++t) {
        if (!lora.adapts(t)) continue;
        const auto it = pairs.find(t);
        require(it != pairs.end(), where, f.source(), ": '", base[t].name, "' has no adapter although other '",
                "layers' ", base[t].name.substr(base[t].name.rfind('.', base[t].name.size() - 8) + 1),
                " do (lethe adapts a module in every layer or in none)");
        const auto a = f.dequantize(*it->second.a);
        std::copy(a.begin(), a.end(), lora.params.ptr(lora.a_index(t)));
        const auto b = f.dequantize(*it->second.b);
        const index_t heads = gguf_llama_writer_detail::rope_heads(base[t].name, cfg);
        float* dst = lora.params.ptr(lora.b_index(t));
        const index_t rows = base[t].rows;
        if (heads > 0) {
            const index_t hd = rows / heads;
            for (index_t r = 0; r < rows; ++r)
                std::copy_n(b.data() + gguf_rope_source_row(r, hd) * rank, rank, dst + r * rank);
        } else {
            std::copy(b.begin(), b.end(), dst);
        }
    }
}

}  // namespace lethe::io

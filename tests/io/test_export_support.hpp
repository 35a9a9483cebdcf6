// Test helpers for the export tests: a tiny byte-level BPE vocabulary (the
// 256 GPT-2 byte symbols, a few merges, control and user-defined tokens), a
// tiny random Llama (GQA, random norms), logits of a prefill, temp dirs.
#pragma once

#include <lethe/io/tokenizer.hpp>
#include <lethe/model/llama.hpp>
#include <lethe/model/random.hpp>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

namespace lethe_test_export {

namespace fs = std::filesystem;
using lethe::index_t;
using lethe::token_id;

inline fs::path temp_dir(const std::string& name) {
    const fs::path d = fs::temp_directory_path() / ("lethe-export-" + std::to_string(::getpid()) + "-" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

inline std::string byte_symbol(unsigned b) {
    std::string s;
    lethe::io::tokenizer_detail::append_utf8(s, lethe::io::tokenizer_detail::byte_to_code_point(b));
    return s;
}

// 256 byte tokens, merges, 3 control tokens and one user-defined token.
inline lethe::io::bpe_tokenizer tiny_tokenizer(lethe::io::pre_tokenizer_kind pre = lethe::io::pre_tokenizer_kind::digits_then_gpt2) {
    using lethe::io::token_type;
    lethe::io::bpe_vocabulary v;
    v.tokens.push_back("<|endoftext|>");
    v.types.push_back(token_type::control);
    v.tokens.push_back("<|im_start|>");
    v.types.push_back(token_type::control);
    v.tokens.push_back("<|im_end|>");
    v.types.push_back(token_type::control);
    for (unsigned b = 0; b < 256; ++b) {
        v.tokens.push_back(byte_symbol(b));
        v.types.push_back(token_type::normal);
    }
    const std::string sp = byte_symbol(' ');
    const std::vector<std::pair<std::string, std::string>> merges = {
        {"t", "h"}, {"th", "e"}, {sp, "t"}, {sp + "t", "he"}, {"i", "n"}, {"a", "n"}, {"an", "d"},
        {sp, "a"}, {"e", "r"}, {sp, "w"}, {"o", "r"}, {sp + "w", "or"}, {"l", "d"}, {sp + "wor", "ld"},
        {"1", "2"}, {"H", "e"}, {"l", "l"}, {"He", "ll"}, {"Hell", "o"}, {"in", "g"}};
    for (const auto& [a, b] : merges) {
        v.merges.push_back(a + " " + b);
        v.tokens.push_back(a + b);
        v.types.push_back(token_type::normal);
    }
    v.tokens.push_back("<tool>");
    v.types.push_back(token_type::user_defined);
    v.pre = pre;
    v.bos = 1;
    v.eos = 2;
    v.unk = 0;
    v.pad = 2;
    v.add_bos = false;
    return lethe::io::bpe_tokenizer(std::move(v));
}

inline const std::vector<std::string>& sample_texts() {
    static const std::vector<std::string> t = {
        "Hello world", " the thing and the world", "12 123 1212", "<|im_start|>user\nHello<|im_end|>\n",
        "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", "use <tool> now", "  spaces   and\ttabs\n\n", "", "I'm here, aren't you?"};
    return t;
}

inline lethe::model::llama_config tiny_config(index_t vocab, bool tied) {
    lethe::model::llama_config c;
    c.vocab = vocab;
    c.d_model = 32;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.d_ff = 64;
    c.max_seq = 64;
    c.rope_theta = 10000.0;
    c.norm_eps = 1e-5;
    c.tied_embeddings = tied;
    return c;
}

// Random weights (std 0.2) and random norm weights around 1.
inline void randomize(lethe::model::llama<float>& m, std::uint64_t seed) {
    m.init_random(seed, 0.2);
    auto& p = m.params();
    for (const auto& t : p.layout().tensors())
        if (t.is_vector)
            for (index_t i = 0; i < t.cols; ++i)
                p.data()[t.offset + i] = float(1.0 + 0.3 * lethe::model::normal_at(seed + 1, std::uint64_t(t.offset), std::uint64_t(i)));
}

// LoRA B set to seeded nonzero values (init leaves B = 0).
inline void randomize_lora_b(lethe::model::llama<float>& m, std::uint64_t seed, double scale) {
    auto& l = *m.lora();
    const auto& L = l.params.layout();
    for (index_t t = 0; t < index_t(L.tensors().size()); ++t) {
        if (L[t].name.find("lora_B") == std::string::npos) continue;
        float* b = l.params.ptr(t);
        for (index_t i = 0; i < L[t].size(); ++i)
            b[i] = float(scale * (2.0 * lethe::model::uniform_open(lethe::model::hash_counter(seed, std::uint64_t(t), std::uint64_t(i))) - 1.0));
    }
}

// Logits after prefilling `ids` into slot 0 (reset first), then after each of `more`.
inline std::vector<float> run(lethe::model::llama<float>& m, const std::vector<token_id>& ids,
                              const std::vector<token_id>& more = {}) {
    const index_t V = m.vocab_size();
    std::vector<float> all, logits(static_cast<std::size_t>(V));
    const index_t slot[1] = {0};
    m.reset(0);
    const std::span<const token_id> row(ids);
    m.prefill(slot, std::span<const std::span<const token_id>>(&row, 1), lethe::view2<float>(logits.data(), 1, V));
    all.insert(all.end(), logits.begin(), logits.end());
    for (token_id t : more) {
        m.step(slot, std::span<const token_id>(&t, 1), lethe::view2<float>(logits.data(), 1, V));
        all.insert(all.end(), logits.begin(), logits.end());
    }
    return all;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double d = a.size() == b.size() ? 0.0 : 1e30;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, double(std::abs(a[i] - b[i])));
    return d;
}
inline bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace lethe_test_export

// tests/fuzz/fuzz_gguf.hpp - GGUF reader (lethe/io/gguf.hpp) from bytes, then
// what a model load does with the result: every metadata accessor, every
// tensor dequantised (small ones), the BPE vocabulary and the Llama
// config/tensor mapping read from it.
#pragma once

#include <lethe/io/gguf.hpp>
#include <lethe/io/gguf_llama.hpp>
#include <lethe/io/tokenizer.hpp>

#include <algorithm>
#include <vector>

#include "fuzz_common.hpp"

namespace lethe_fuzz {

namespace gguf_detail {
// Each typed accessor either answers or throws lethe::error.
inline void touch(const lethe::io::gguf_value& v, const std::string& key, int depth = 0) {
    const auto quiet = [](auto&& f) {
        try {
            f();
        } catch (const lethe::error&) {
        }
    };
    quiet([&] { (void)v.as_u64(key); });
    quiet([&] { (void)v.as_i64(key); });
    quiet([&] { (void)v.as_f64(key); });
    quiet([&] { (void)v.as_bool(key); });
    quiet([&] { (void)v.as_string(key); });
    if (v.is_array() && depth < 8)
        for (const auto& item : v.as_array(key)) touch(item, key, depth + 1);
}
}  // namespace gguf_detail

inline int fuzz_gguf(const std::uint8_t* data, std::size_t size) {
    using namespace lethe::io;
    return reject_cleanly([&] {
        const gguf_file f = gguf_file::parse(std::span<const unsigned char>(data, size), "<fuzz>");
        for (const auto& [key, v] : f.metadata()) {
            LETHE_FUZZ_CHECK(f.find(key) == &v, key);
            gguf_detail::touch(v, key);
        }
        // Tensors: inside the data section, not overlapping, sizes consistent.
        LETHE_FUZZ_CHECK(f.tensors().empty() || f.data_offset() <= size, "data section start");
        std::vector<std::pair<const unsigned char*, const unsigned char*>> ranges;
        for (const auto& t : f.tensors()) {
            LETHE_FUZZ_CHECK(t.elements > 0 && t.bytes >= 0, t.name);
            LETHE_FUZZ_CHECK(t.data >= data + f.data_offset() && t.data <= data + size &&
                                 static_cast<std::uint64_t>(t.bytes) <= static_cast<std::uint64_t>(data + size - t.data),
                             t.name);
            LETHE_FUZZ_CHECK(f.find_tensor(t.name) == &t, t.name);
            if (t.bytes > 0) ranges.emplace_back(t.data, t.data + t.bytes);
            if (t.elements <= (1 << 16)) {
                const std::vector<float> x = f.dequantize(t);
                LETHE_FUZZ_CHECK(static_cast<std::int64_t>(x.size()) == t.elements, t.name);
            }
        }
        std::sort(ranges.begin(), ranges.end());
        for (std::size_t i = 1; i < ranges.size(); ++i)
            LETHE_FUZZ_CHECK(ranges[i].first >= ranges[i - 1].second, "tensors overlap");

        // Consumers of the metadata: each may reject the file, none may crash.
        try {
            const bpe_tokenizer tok = bpe_tokenizer::from_gguf(f);
            const std::string text = "Hello, world! 123 <|im_start|>user\n\xc3\xa9t\xc3\xa9";
            const auto ids = tok.encode(text, {true, true});
            for (auto id : ids) LETHE_FUZZ_CHECK(id >= 0 && static_cast<std::size_t>(id) < tok.size(), "token id");
            (void)tok.decode(ids);
        } catch (const lethe::error&) {
        }
        try {
            (void)gguf_llama_hf_config(f);
        } catch (const lethe::error&) {
        }
        for (const auto& h : gguf_llama_hf_tensors(f)) {
            if (h.source->elements > (1 << 16)) continue;
            std::vector<float> dst(static_cast<std::size_t>(h.source->elements));
            gguf_load_hf_tensor(lethe::seq, h, std::span<float>(dst));
        }
    });
}

}  // namespace lethe_fuzz

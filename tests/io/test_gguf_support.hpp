// Test helpers for GGUF files and ggml blocks: a byte-level GGUF writer (so
// tests do not depend on the reader to build their inputs) and random block
// rows with finite scales.
#pragma once

#include <lethe/io/float16.hpp>
#include <lethe/io/gguf.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <string_view>
#include <vector>

namespace lethe_test_gguf {

using lethe::index_t;
using lethe::io::ggml_type;
using lethe::io::gguf_value_type;

// Writes GGUF bytes by hand (little-endian).
struct gguf_builder {
    std::vector<unsigned char> b;
    void u8(unsigned v) { b.push_back(static_cast<unsigned char>(v)); }
    void u16(std::uint16_t v) { for (int k = 0; k < 2; ++k) u8((v >> (8 * k)) & 0xff); }
    void u32(std::uint32_t v) { for (int k = 0; k < 4; ++k) u8((v >> (8 * k)) & 0xff); }
    void u64(std::uint64_t v) { for (int k = 0; k < 8; ++k) u8(static_cast<unsigned>((v >> (8 * k)) & 0xff)); }
    void f32(float f) { std::uint32_t u; std::memcpy(&u, &f, 4); u32(u); }
    void f64(double f) { std::uint64_t u; std::memcpy(&u, &f, 8); u64(u); }
    void str(std::string_view s) { u64(s.size()); for (char c : s) u8(static_cast<unsigned char>(c)); }
    void header(std::uint32_t version, std::uint64_t n_tensors, std::uint64_t n_kv) {
        for (char c : std::string_view("GGUF")) u8(static_cast<unsigned char>(c));
        u32(version); u64(n_tensors); u64(n_kv);
    }
    void key(std::string_view k, gguf_value_type t) { str(k); u32(static_cast<std::uint32_t>(t)); }
    void tensor(std::string_view name, std::vector<std::uint64_t> dims, ggml_type t, std::uint64_t offset) {
        str(name); u32(static_cast<std::uint32_t>(dims.size()));
        for (auto d : dims) u64(d);
        u32(static_cast<std::uint32_t>(t)); u64(offset);
    }
    void pad_to(std::size_t alignment) { while (b.size() % alignment) u8(0); }
};

// `rows` rows of `cols` elements of type t with random quants and finite
// scales. Plain types (F32/F16/BF16) hold values in [-s, s]. Block types get
// scales that put most weights within about +-s: d = s / (largest quant)
// (for the k-quants, / (largest sub-scale x largest quant)); the minimum
// field of Q4_1/Q5_1 is -s times a factor in [0.5, 1.5] when `signed_mins`,
// else +s/2 times it (all weights positive).
inline std::vector<unsigned char> random_rows(ggml_type t, index_t rows, index_t cols, unsigned seed, float s = 1.0f,
                                              bool signed_mins = false) {
    const auto tr = lethe::io::ggml_traits(t);
    std::vector<unsigned char> b(static_cast<std::size_t>(rows * lethe::io::ggml_row_bytes(t, cols)));
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> unit(0.5f, 1.5f);
    for (auto& x : b) x = static_cast<unsigned char>(gen());
    if (t == ggml_type::f16 || t == ggml_type::bf16 || t == ggml_type::f32) {
        std::uniform_real_distribution<float> v(-s, s);
        for (index_t i = 0; i < rows * cols; ++i) {
            const float x = v(gen);
            if (t == ggml_type::f32) {
                std::memcpy(b.data() + 4 * i, &x, 4);
            } else {
                const std::uint16_t h = t == ggml_type::f16 ? lethe::io::float_to_half(x) : lethe::io::float_to_bf16(x);
                b[std::size_t(2 * i)] = h & 0xff;
                b[std::size_t(2 * i + 1)] = h >> 8;
            }
        }
        return b;
    }
    auto put = [&](std::size_t at, float v) {
        const std::uint16_t h = lethe::io::float_to_half(v);
        b[at] = h & 0xff;
        b[at + 1] = h >> 8;
    };
    const std::size_t blocks = b.size() / static_cast<std::size_t>(tr.block_bytes);
    for (std::size_t k = 0; k < blocks; ++k) {
        const std::size_t base = k * static_cast<std::size_t>(tr.block_bytes);
        const float mins = signed_mins ? -s * unit(gen) : 0.5f * s * unit(gen);
        switch (t) {
            case ggml_type::q4_0: put(base, s / 8 * unit(gen)); break;
            case ggml_type::q5_0: put(base, s / 16 * unit(gen)); break;
            case ggml_type::q8_0: put(base, s / 128 * unit(gen)); break;
            case ggml_type::q4_1: put(base, s / 15 * unit(gen)); put(base + 2, mins); break;
            case ggml_type::q5_1: put(base, s / 31 * unit(gen)); put(base + 2, mins); break;
            case ggml_type::q4_k: put(base, s / (63 * 15) * unit(gen)); put(base + 2, s / 63 * unit(gen)); break;
            case ggml_type::q5_k: put(base, s / (63 * 31) * unit(gen)); put(base + 2, s / 63 * unit(gen)); break;
            case ggml_type::q6_k: put(base + 208, s / (127 * 32) * unit(gen)); break;
            default: break;
        }
    }
    return b;
}

}  // namespace lethe_test_gguf

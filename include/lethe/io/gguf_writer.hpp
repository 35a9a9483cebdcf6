// lethe/io/gguf_writer.hpp - GGUF v3 writer (the inverse of gguf.hpp's reader).
//
//   lethe::io::gguf_writer w;
//   w.set("general.architecture", gguf_string("llama"));
//   w.set("llama.block_count", gguf_u32(30));
//   w.add_tensor("token_embd.weight", {d, vocab}, emb.data(), ggml_type::f16);  // dims fastest first
//   w.write("model.gguf");  // atomic: complete or absent
//
// Layout (ggml docs/gguf.md; the same as the reader's):
//   "GGUF" | u32 3 | u64 tensor_count | u64 kv_count | kvs | tensor infos |
//   zero padding to the alignment | tensor data, each tensor padded to the
//   alignment (the last one too, as ggml's writer does).
// Metadata keeps insertion order; set() on an existing key replaces its value
// in place. The alignment is `general.alignment` when that key is set (u32,
// a power of two), else 32. Tensors: F32, F16 and BF16 from float (round to
// nearest even), Q8_0 (ggml's reference quantiser: d = max|x| / 127 in F16,
// q = round(x / d)), or bytes already in any type the reader knows.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "gguf.hpp"

namespace lethe::io {

// Value builders (the reader's gguf_value, filled as the parser fills it).
gguf_value gguf_u8(std::uint8_t v);
gguf_value gguf_i8(std::int8_t v);
gguf_value gguf_u16(std::uint16_t v);
gguf_value gguf_i16(std::int16_t v);
gguf_value gguf_u32(std::uint32_t v);
gguf_value gguf_i32(std::int32_t v);
gguf_value gguf_u64(std::uint64_t v);
gguf_value gguf_i64(std::int64_t v);
gguf_value gguf_f32(float v);
gguf_value gguf_f64(double v);
gguf_value gguf_bool(bool v);
gguf_value gguf_string(std::string v);
// An array of `element_type` items (each item's type must be element_type;
// arrays of arrays allowed).
gguf_value gguf_array(gguf_value_type element_type, std::vector<gguf_value> items);
gguf_value gguf_string_array(std::span<const std::string> items);
gguf_value gguf_i32_array(std::span<const std::int32_t> items);

class gguf_writer {
public:
    // Adds or replaces a metadata entry.
    void set(std::string key, gguf_value value);
    const gguf_value* find(std::string_view key) const noexcept;
    const std::vector<std::pair<std::string, gguf_value>>& metadata() const noexcept { return kv_; }

    // A tensor from floats: `dims` in ggml order (dims[0] = row length, the
    // fastest-varying; a row-major [rows, cols] matrix is {cols, rows}),
    // stored as `type` (f32, f16, bf16 or q8_0; q8_0 needs dims[0] % 32 == 0).
    void add_tensor(std::string name, std::vector<std::int64_t> dims, const float* data, ggml_type type = ggml_type::f32);
    // A tensor whose bytes are already encoded as `type` (ggml_row_bytes per row).
    void add_tensor_bytes(std::string name, std::vector<std::int64_t> dims, ggml_type type,
                          std::vector<unsigned char> bytes);

    std::size_t tensor_count() const noexcept { return tensors_.size(); }
    std::uint64_t alignment() const;

    // The whole file in memory (tests, small files).
    std::vector<unsigned char> bytes() const;
    // Writes the file atomically (temporary + rename); throws lethe::error
    // naming the path on any failure, leaving no partial file behind.
    void write(const std::filesystem::path& path) const;

private:
    struct tensor {
        std::string name;
        std::vector<std::int64_t> dims;
        ggml_type type;
        std::vector<unsigned char> bytes;
    };
    std::vector<std::pair<std::string, gguf_value>> kv_;
    std::unordered_map<std::string, std::size_t> kv_index_;
    std::vector<tensor> tensors_;
    std::unordered_map<std::string, std::size_t> tensor_index_;

    template <class Sink>
    void emit(Sink& sink) const;
};

// Encodes `n` floats (a multiple of 32) as Q8_0 blocks into dst
// (n / 32 * 34 bytes).
void quantize_q8_0(const float* x, index_t n, unsigned char* dst);

}  // namespace lethe::io

#include "gguf_writer_impl.hpp"

// lethe/io/gguf.hpp - GGUF (llama.cpp's model file) reader, v2 and v3.
//
// Layout (little-endian; ggml docs/gguf.md):
//   "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x  { string key | u32 value_type | value }
//   tensor_count x { string name | u32 n_dims | u64 dims[n_dims] | u32 ggml_type | u64 offset }
//   padding to `general.alignment` (default 32)
//   tensor data; each tensor at data_start + offset (offset % alignment == 0)
// string = u64 length + bytes (no terminator); array = u32 element type +
// u64 count + elements (arrays may nest). dims[0] is the fastest-varying one.
//
// The file is memory-mapped read-only. Every count, length, offset and size is
// checked against the bytes that remain before it is used or allocated for,
// so a truncated or hostile file throws lethe::error naming the byte offset,
// and never reads out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/config.hpp"
#include "../core/error.hpp"
#include "gguf_quants.hpp"

namespace lethe::io {

// GGUF metadata value types (gguf_type in gguf.h).
enum class gguf_value_type : std::uint32_t {
    u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
    string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};

std::string_view gguf_value_type_name(gguf_value_type t) noexcept;

// One metadata value. Scalars keep their stored type; the typed accessors
// convert integers only when the value fits, and throw lethe::error otherwise.
class gguf_value {
public:
    gguf_value_type type = gguf_value_type::u8;
    gguf_value_type element_type = gguf_value_type::u8;  // arrays only

    bool is_array() const noexcept { return type == gguf_value_type::array; }
    bool is_string() const noexcept { return type == gguf_value_type::string; }
    bool is_integer() const noexcept;

    std::uint64_t as_u64(std::string_view key) const;
    std::int64_t as_i64(std::string_view key) const;
    double as_f64(std::string_view key) const;  // any numeric type
    bool as_bool(std::string_view key) const;
    const std::string& as_string(std::string_view key) const;
    const std::vector<gguf_value>& as_array(std::string_view key) const;

    // Storage (public for the parser and for tests that build values).
    std::uint64_t bits = 0;  // integers (two's complement for signed), bool
    double real = 0.0;       // f32 / f64
    std::string text;
    std::vector<gguf_value> items;
};

// One tensor: name, dims in ggml order (dims[0] fastest), type, and its bytes
// inside the mapped file.
struct gguf_tensor_info {
    std::string name;
    std::vector<std::int64_t> dims;
    ggml_type type = ggml_type::f32;
    std::uint64_t offset = 0;  // from the start of the data section
    std::int64_t elements = 0;
    std::int64_t bytes = 0;
    const unsigned char* data = nullptr;

    std::int64_t row_elements() const noexcept { return dims.empty() ? 1 : dims[0]; }
    std::int64_t rows() const noexcept { return row_elements() ? elements / row_elements() : 0; }
};

namespace gguf_detail {
// Read-only private mapping of a whole file (munmap on destruction).
class file_mapping {
public:
    explicit file_mapping(const std::filesystem::path& path);
    ~file_mapping();
    file_mapping(const file_mapping&) = delete;
    file_mapping& operator=(const file_mapping&) = delete;
    const unsigned char* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }

private:
    const unsigned char* data_ = nullptr;
    std::size_t size_ = 0;
};
}  // namespace gguf_detail

class gguf_file {
public:
    // Maps `path` and parses it. Tensor data stays in the mapping (no copy).
    static gguf_file open(const std::filesystem::path& path);
    // Parses a buffer the caller keeps alive for the lifetime of the result.
    static gguf_file parse(std::span<const unsigned char> bytes, std::string source_name = "<memory>");

    std::uint32_t version() const noexcept { return version_; }
    std::uint64_t alignment() const noexcept { return alignment_; }
    std::uint64_t data_offset() const noexcept { return data_offset_; }  // start of the data section
    std::size_t file_size() const noexcept { return bytes_.size(); }
    const std::string& source() const noexcept { return source_; }

    // Metadata in file order, and lookup by key.
    const std::vector<std::pair<std::string, gguf_value>>& metadata() const noexcept { return kv_; }
    const gguf_value* find(std::string_view key) const noexcept;
    const gguf_value& at(std::string_view key) const;  // throws naming the missing key
    std::uint64_t get_u64(std::string_view key) const { return at(key).as_u64(key); }
    std::int64_t get_i64(std::string_view key) const { return at(key).as_i64(key); }
    double get_f64(std::string_view key) const { return at(key).as_f64(key); }
    bool get_bool(std::string_view key, bool fallback) const;
    const std::string& get_string(std::string_view key) const { return at(key).as_string(key); }
    std::vector<std::string> get_string_array(std::string_view key) const;
    std::vector<std::int64_t> get_int_array(std::string_view key) const;

    const std::vector<gguf_tensor_info>& tensors() const noexcept { return tensors_; }
    const gguf_tensor_info* find_tensor(std::string_view name) const noexcept;
    const gguf_tensor_info& tensor(std::string_view name) const;

    // Dequantises a whole tensor into dst (tensor.elements floats).
    template <execution_policy P>
    void dequantize(const P& pol, const gguf_tensor_info& t, std::span<float> dst) const {
        require(static_cast<std::int64_t>(dst.size()) == t.elements, "lethe::io::gguf_file::dequantize",
                "tensor '", t.name, "' has ", t.elements, " elements, destination holds ", dst.size());
        dequantize_rows(pol, t.type, t.data, t.bytes, t.rows(), t.row_elements(), dst.data());
    }
    std::vector<float> dequantize(const gguf_tensor_info& t) const;

private:
    std::shared_ptr<gguf_detail::file_mapping> mapping_;
    std::span<const unsigned char> bytes_;
    std::string source_;
    std::uint32_t version_ = 0;
    std::uint64_t alignment_ = 32;
    std::uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, gguf_value>> kv_;
    std::unordered_map<std::string, std::size_t> kv_index_;
    std::vector<gguf_tensor_info> tensors_;
    std::unordered_map<std::string, std::size_t> tensor_index_;

    friend class gguf_parser;
};

}  // namespace lethe::io

#include "gguf_impl.hpp"

// lethe/io/safetensors.hpp - read and write safetensors checkpoints.
//
// Format (https://github.com/huggingface/safetensors, "Format" section):
//   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
//   bytes [8, 8+N)      UTF-8 JSON object, possibly padded with trailing spaces:
//                         "<name>": {"dtype": "F32", "shape": [2, 3],
//                                    "data_offsets": [begin, end]}
//                         "__metadata__": {"<key>": "<string value>", ...}  (optional)
//   bytes [8+N, EOF)    the data section; offsets are relative to its start,
//                       [begin, end) ranges tile it exactly (no holes, no
//                       overlap), little-endian, row-major.
//
// Reading: `safetensors_file` memory-maps the file (read-only), validates the
// whole header against the file size before anything is used, and gives raw
// access (name, dtype, shape, byte span) to every tensor plus conversion of
// F32 / F16 / BF16 tensors into float with an expected shape (and optionally
// dtype) stated by the caller. Every problem is a lethe::error that names the
// file, the tensor or field and what was wrong.
//
// Writing: `safetensors_writer` collects (name, shape, float data, stored
// dtype) entries that point at the caller's memory, then writes the file
// atomically (temporary name, then rename: never a partial file on disk).
// Tensors are stored sorted as the reference implementation sorts them
// (larger element size first, then by name, so every tensor stays aligned to
// its element size) or in the order they were added; the header is padded
// with spaces to a multiple of 8 bytes, as the reference implementation does.
//
//   lethe::io::safetensors_writer w;
//   w.add("model.embed_tokens.weight", {vocab, d}, emb.data());            // F32
//   w.add("model.norm.weight", {d}, norm.data(), lethe::io::dtype::bf16);  // rounded to BF16
//   w.set_metadata("format", "pt");
//   w.write("model.safetensors");
//
//   lethe::io::safetensors_file f("model.safetensors");
//   f.load_into("model.embed_tokens.weight", {vocab, d}, emb.data());  // any float dtype -> float
//   const auto& t = f.tensor("model.norm.weight");                     // raw: t.type, t.shape, f.bytes(t)
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../core/view.hpp"

namespace lethe::io {

static_assert(std::endian::native == std::endian::little,
              "lethe's safetensors reader and writer assume a little-endian host");

// The dtypes of the safetensors specification. Only f32, f16 and bf16 convert
// to and from float; the others are reachable through raw byte access.
enum class dtype : std::uint8_t { boolean, u8, i8, f8_e5m2, f8_e4m3, i16, u16, f16, bf16, i32, u32, f32, f64, i64, u64 };

// The specification's name ("F32", "BF16", "BOOL", ...).
inline std::string_view dtype_name(dtype t) noexcept;
// Parses a specification name; nullopt for names lethe does not know.
inline std::optional<dtype> parse_dtype(std::string_view name) noexcept;
// Bytes per element.
inline std::size_t dtype_size(dtype t) noexcept;
// True for the dtypes that load into and store from float (F32, F16, BF16).
constexpr bool is_float_storage(dtype t) noexcept { return t == dtype::f32 || t == dtype::f16 || t == dtype::bf16; }

using tensor_shape = std::vector<std::int64_t>;

// "[2, 3]", for messages.
inline std::string shape_string(std::span<const std::int64_t> shape);

// One tensor of a safetensors header. Offsets are relative to the data section.
struct tensor_info {
    std::string name;
    dtype type = dtype::f32;
    tensor_shape shape;
    std::uint64_t begin = 0, end = 0;

    std::int64_t numel() const noexcept;
    std::uint64_t byte_size() const noexcept { return end - begin; }
};

// A validated, memory-mapped safetensors file (read-only). Movable, not
// copyable; the byte spans it hands out live as long as it does.
class safetensors_file {
public:
    // The reference implementation refuses headers above 100 MB; so do we
    // (a lying length field must not make us allocate gigabytes).
    static constexpr std::uint64_t max_header_bytes = 100'000'000;

    // Maps and validates `path`. Throws lethe::error on any problem.
    explicit safetensors_file(const std::filesystem::path& path);
    // Validates an in-memory image (tests, fuzzing, files already in memory).
    // `label` names the source in error messages.
    static safetensors_file from_bytes(std::string bytes, std::string label = "<memory>");

    safetensors_file(safetensors_file&& o) noexcept;
    safetensors_file& operator=(safetensors_file&& o) noexcept;
    safetensors_file(const safetensors_file&) = delete;
    safetensors_file& operator=(const safetensors_file&) = delete;
    ~safetensors_file();

    // Tensors in data-section order (ascending offsets).
    const std::vector<tensor_info>& tensors() const noexcept { return tensors_; }
    std::size_t size() const noexcept { return tensors_.size(); }
    bool contains(std::string_view name) const;
    // Throws lethe::error naming `name` when there is no such tensor.
    const tensor_info& tensor(std::string_view name) const;
    // The `__metadata__` string map (empty when the file has none).
    const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
    // Raw bytes of a tensor, exactly as stored (little-endian, row-major).
    std::span<const std::byte> bytes(const tensor_info& t) const noexcept;
    std::span<const std::byte> bytes(std::string_view name) const { return bytes(tensor(name)); }
    // Size of the whole file and of its JSON header (padding included).
    std::uint64_t file_size() const noexcept { return size_; }
    std::uint64_t header_size() const noexcept { return header_len_; }
    const std::string& label() const noexcept { return label_; }

    // Converts tensor `name` (F32, F16 or BF16) into float at `dst`, which
    // must hold numel floats. Throws, naming the tensor, when its shape differs
    // from `expected_shape`, when its dtype is not a float storage type, or,
    // if `expected_type` is given, when its dtype differs from it.
    void load_into(std::string_view name, std::span<const std::int64_t> expected_shape, float* dst,
                   std::optional<dtype> expected_type = std::nullopt) const;
    void load_into(std::string_view name, std::initializer_list<std::int64_t> expected_shape, float* dst,
                   std::optional<dtype> expected_type = std::nullopt) const {
        load_into(name, std::span<const std::int64_t>(expected_shape.begin(), expected_shape.size()), dst,
                  expected_type);
    }
    // Into a host view: the view's extents are the expected shape; any
    // strides (a slice of a larger parameter block, for instance).
    template <int Rank>
    void load_into(std::string_view name, strided_view<float, Rank, host_space> dst,
                   std::optional<dtype> expected_type = std::nullopt) const;
    // Allocating convenience: the tensor as float, whatever its shape.
    std::vector<float> load(std::string_view name) const;

private:
    safetensors_file() = default;
    void parse_and_validate();
    void release() noexcept;

    std::string label_;
    const std::byte* base_ = nullptr;  // whole file image
    std::uint64_t size_ = 0;
    std::uint64_t header_len_ = 0;
    void* map_ = nullptr;        // mmap'd region (nullptr for from_bytes / empty)
    std::string owned_;          // from_bytes storage
    std::vector<tensor_info> tensors_;
    std::unordered_map<std::string, std::size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// How the writer orders tensors in the data section.
enum class tensor_order {
    sorted,  // as the reference implementation: element size descending, then name
    given,   // the order of add() calls
};

// Collects tensors that point at the caller's memory (which must stay valid
// until write()/serialize() returns) and writes a safetensors file.
class safetensors_writer {
public:
    // A float tensor stored as `stored` (F32, F16 or BF16; F16/BF16 round to
    // nearest even). Throws on a duplicate or reserved name, a negative
    // extent or a non-float `stored` dtype.
    void add(std::string name, std::span<const std::int64_t> shape, const float* data, dtype stored = dtype::f32);
    void add(std::string name, std::initializer_list<std::int64_t> shape, const float* data,
             dtype stored = dtype::f32) {
        add(std::move(name), std::span<const std::int64_t>(shape.begin(), shape.size()), data, stored);
    }
    // A host view (any strides); its extents are the shape.
    template <class T, int Rank>
    void add(std::string name, strided_view<T, Rank, host_space> src, dtype stored = dtype::f32);
    // Bytes already in the file's encoding (any dtype, e.g. I64 token ids);
    // their size must equal numel * dtype_size(type).
    void add_raw(std::string name, dtype type, std::span<const std::int64_t> shape, std::span<const std::byte> bytes);

    // Adds or replaces one `__metadata__` entry.
    void set_metadata(std::string key, std::string value);
    void set_order(tensor_order order) noexcept { order_ = order; }

    std::size_t size() const noexcept { return entries_.size(); }
    // Bytes the file will have.
    std::uint64_t file_size() const;

    // Writes the file atomically (temporary name in the same directory, then
    // rename); on any error the previous file, if any, is left untouched.
    void write(const std::filesystem::path& path) const;
    // The whole file image in memory (tests, small files).
    std::string serialize() const;

private:
    struct entry {
        std::string name;
        dtype type;
        tensor_shape shape;
        std::int64_t numel;
        // Float source as a rank-3 strided block (leading extents 1 for lower
        // ranks): element (i, j, k) is floats[i*str[0] + j*str[1] + k*str[2]].
        const float* floats = nullptr;
        index_t ext[3] = {1, 1, 0}, str[3] = {0, 0, 1};
        std::span<const std::byte> raw;  // add_raw source
    };
    std::vector<const entry*> ordered() const;
    std::string header_json(const std::vector<const entry*>& order) const;
    template <class Sink>
    void emit(Sink& sink) const;
    void add_entry(entry e);

    std::vector<entry> entries_;
    std::map<std::string, std::string> metadata_;
    tensor_order order_ = tensor_order::sorted;
};

}  // namespace lethe::io

#include "safetensors_impl.hpp"

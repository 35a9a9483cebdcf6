// lethe/io/safetensors_impl.hpp - implementation of safetensors.hpp (included by it).
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <type_traits>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "atomic_file.hpp"
#include "float16.hpp"
#include "safetensors.hpp"

namespace lethe::io {

namespace detail {

struct dtype_entry {
    dtype type;
    std::string_view name;
    std::size_t size;
};
// Specification names and element sizes, in the enum's order.
inline constexpr std::array<dtype_entry, 15> dtype_table{{
    {dtype::boolean, "BOOL", 1}, {dtype::u8, "U8", 1},   {dtype::i8, "I8", 1},     {dtype::f8_e5m2, "F8_E5M2", 1},
    {dtype::f8_e4m3, "F8_E4M3", 1}, {dtype::i16, "I16", 2}, {dtype::u16, "U16", 2}, {dtype::f16, "F16", 2},
    {dtype::bf16, "BF16", 2},     {dtype::i32, "I32", 4}, {dtype::u32, "U32", 4}, {dtype::f32, "F32", 4},
    {dtype::f64, "F64", 8},       {dtype::i64, "I64", 8}, {dtype::u64, "U64", 8},
}};

// half_to_float (float16.hpp) without branches, so the conversion loop
// vectorises (2.5x faster reads of F16 checkpoints). Same results for all
// 65536 inputs (tests/io/test_safetensors.cpp checks them all). Method:
// shift exponent and mantissa into float position and rebias by 112; the
// exponent-31 inputs (inf/NaN) get the extra rebias to 255; subnormal
// inputs are renormalised by subtracting the magic 2^-14.
inline float half_to_float_branchless(std::uint16_t h) noexcept {
    const std::uint32_t shifted_exp = 0x7c00u << 13;
    std::uint32_t u = (static_cast<std::uint32_t>(h) & 0x7fffu) << 13;
    const std::uint32_t e = u & shifted_exp;
    u += (127u - 15u) << 23;
    // Masks instead of ?: so GCC sees no control flow in the loop.
    const std::uint32_t inf_nan = 0u - static_cast<std::uint32_t>(e == shifted_exp);
    u += inf_nan & ((128u - 16u) << 23);
    const std::uint32_t sub = std::bit_cast<std::uint32_t>(std::bit_cast<float>(u + (1u << 23)) -
                                                           std::bit_cast<float>(113u << 23));
    const std::uint32_t tiny = 0u - static_cast<std::uint32_t>(e == 0);  // zero / subnormal
    u = (sub & tiny) | (u & ~tiny);
    return std::bit_cast<float>(u | (static_cast<std::uint32_t>(h & 0x8000u) << 16));
}

// float_to_half (float16.hpp) without branches, so the writer's F16 loop
// vectorises; same results (tests/io/test_safetensors.cpp compares them on
// every rounding boundary). Method (the usual one for RNE conversion):
// normals rebias the exponent and round the mantissa with +0xfff plus the
// odd bit; results below F16's normal range come from the FPU adding 0.5f,
// which leaves the subnormal half, rounded to nearest even, in the low bits;
// overflow clamps to infinity; NaN becomes the quiet NaN 0x7e00.
inline std::uint16_t float_to_half_branchless(float f) noexcept {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    const std::uint32_t sign = (u >> 16) & 0x8000u;
    const std::uint32_t a = u & 0x7fffffffu;
    const std::uint32_t normal = (a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13;
    const std::uint32_t sub = std::bit_cast<std::uint32_t>(std::bit_cast<float>(a) + 0.5f) - 0x3f000000u;
    const std::uint32_t is_sub = 0u - static_cast<std::uint32_t>(a < 0x38800000u);
    const std::uint32_t is_big = 0u - static_cast<std::uint32_t>(a >= 0x477ff000u);
    const std::uint32_t is_nan = 0u - static_cast<std::uint32_t>(a > 0x7f800000u);
    std::uint32_t r = (sub & is_sub) | (normal & ~is_sub);
    r = (0x7c00u & is_big) | (r & ~is_big);
    r = (0x7e00u & is_nan) | (r & ~is_nan);
    return static_cast<std::uint16_t>(r | sign);
}

// 16-bit stored values -> float; the dense case is its own loop so it vectorises.
template <class Convert>
inline void convert_16bit_run(const std::byte* src, std::int64_t n, float* dst, index_t stride, Convert convert) {
    if (stride == 1) {
        LETHE_SIMD
        for (std::int64_t i = 0; i < n; ++i) {
            std::uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            dst[i] = convert(h);
        }
        return;
    }
    for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i * stride] = convert(h);
    }
}

// Converts `n` stored elements at `src` (unaligned is fine) into floats at
// dst[0], dst[stride], ... memcpy per element keeps unaligned loads defined;
// compilers turn it into plain loads.
inline void stored_to_float(const std::byte* src, dtype type, std::int64_t n, float* dst, index_t stride) {
    if (type == dtype::f32) {
        if (stride == 1) {
            if (n > 0) std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
            return;
        }
        for (std::int64_t i = 0; i < n; ++i) std::memcpy(dst + i * stride, src + 4 * i, sizeof(float));
    } else if (type == dtype::bf16) {
        convert_16bit_run(src, n, dst, stride, [](std::uint16_t h) { return bf16_to_float(h); });
    } else {
        convert_16bit_run(src, n, dst, stride, [](std::uint16_t h) { return half_to_float_branchless(h); });
    }
}

// Nesting depth of a JSON text (brackets outside strings). A safetensors
// header nests 3 deep; checking this first keeps a hostile header of a
// million '[' from costing recursion in the JSON library.
inline int json_nesting_depth(std::string_view s) noexcept {
    int depth = 0, max_depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            max_depth = std::max(max_depth, ++depth);
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return max_depth;
}

inline bool mul_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
    return __builtin_mul_overflow(a, b, &out);
}

}  // namespace detail

inline std::string_view dtype_name(dtype t) noexcept { return detail::dtype_table[static_cast<std::size_t>(t)].name; }
inline std::size_t dtype_size(dtype t) noexcept { return detail::dtype_table[static_cast<std::size_t>(t)].size; }
inline std::optional<dtype> parse_dtype(std::string_view name) noexcept {
    for (const auto& e : detail::dtype_table)
        if (e.name == name) return e.type;
    return std::nullopt;
}

inline std::string shape_string(std::span<const std::int64_t> shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

inline std::int64_t tensor_info::numel() const noexcept {
    std::int64_t n = 1;
    for (auto e : shape) n *= e;
    return n;
}

// ------------------------------------------------------------------ reader

inline safetensors_file::safetensors_file(const std::filesystem::path& path) : label_(path.string()) {
    constexpr std::string_view where = "lethe::io::safetensors_file";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(where, "cannot open '", label_, "': ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(where, "'", label_, "' is not a regular file");
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
    if (size_ > 0) {
        void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            fail(where, "cannot map '", label_, "' (", size_, " bytes): ", std::strerror(err));
        }
        map_ = m;
        base_ = static_cast<const std::byte*>(m);
    }
    ::close(fd);  // the mapping keeps the file alive
    try {
        parse_and_validate();
    } catch (...) {
        release();
        throw;
    }
}

inline safetensors_file safetensors_file::from_bytes(std::string bytes, std::string label) {
    safetensors_file f;
    f.label_ = std::move(label);
    f.owned_ = std::move(bytes);
    f.base_ = reinterpret_cast<const std::byte*>(f.owned_.data());
    f.size_ = f.owned_.size();
    f.parse_and_validate();
    return f;
}

inline safetensors_file::safetensors_file(safetensors_file&& o) noexcept { *this = std::move(o); }

inline safetensors_file& safetensors_file::operator=(safetensors_file&& o) noexcept {
    if (this == &o) return *this;
    release();
    label_ = std::move(o.label_);
    size_ = o.size_;
    header_len_ = o.header_len_;
    map_ = std::exchange(o.map_, nullptr);
    // A moved std::string may keep small contents inline: re-point at ours.
    owned_ = std::move(o.owned_);
    base_ = map_ ? static_cast<const std::byte*>(map_) : reinterpret_cast<const std::byte*>(owned_.data());
    o.base_ = nullptr;
    o.size_ = 0;
    tensors_ = std::move(o.tensors_);
    index_ = std::move(o.index_);
    metadata_ = std::move(o.metadata_);
    return *this;
}

inline safetensors_file::~safetensors_file() { release(); }

inline void safetensors_file::release() noexcept {
    if (map_) ::munmap(map_, size_);
    map_ = nullptr;
    base_ = nullptr;
}

inline void safetensors_file::parse_and_validate() {
    using json = nlohmann::json;
    const std::string where = "lethe::io::safetensors '" + label_ + "'";
    if (size_ < 8) fail(where, "file is ", size_, " bytes, shorter than the 8-byte header length field");
    std::uint64_t n;
    std::memcpy(&n, base_, 8);  // little-endian host (static_assert in safetensors.hpp)
    if (n > max_header_bytes)
        fail(where, "header length field says ", n, " bytes, above the limit of ", max_header_bytes,
             " (corrupt or not a safetensors file)");
    if (n > size_ - 8)
        fail(where, "header length field says ", n, " bytes but only ", size_ - 8,
             " bytes follow it (truncated file or lying header)");
    header_len_ = n;
    const std::string_view text(reinterpret_cast<const char*>(base_ + 8), n);
    if (text.empty() || text.front() != '{')
        fail(where, "header (", n, " bytes at offset 8) does not start with '{'");
    if (detail::json_nesting_depth(text) > 8)
        fail(where, "header nests deeper than a safetensors header can (corrupt header)");

    // nlohmann keeps the last of duplicate keys silently; the callback sees
    // every top-level key so a duplicated tensor name is an error.
    std::vector<std::string> names_seen;
    std::string duplicate;
    bool has_duplicate = false;
    auto on_event = [&](int depth, json::parse_event_t ev, json& parsed) {
        if (ev == json::parse_event_t::key && depth == 1 && !has_duplicate) {
            std::string k = parsed.get<std::string>();
            if (std::find(names_seen.begin(), names_seen.end(), k) != names_seen.end()) {
                duplicate = std::move(k);
                has_duplicate = true;
            } else {
                names_seen.push_back(std::move(k));
            }
        }
        return true;
    };
    json header;
    try {
        header = json::parse(text.begin(), text.end(), on_event);
    } catch (const json::exception& e) {
        fail(where, "header is not valid JSON (offsets count from byte 8 of the file): ", e.what());
    }
    if (has_duplicate) fail(where, "tensor '", duplicate, "' appears more than once in the header");
    if (!header.is_object()) fail(where, "header is not a JSON object");

    const std::uint64_t data_size = size_ - 8 - n;
    tensors_.clear();
    tensors_.reserve(header.size());
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        const json& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) fail(where, "__metadata__ is not a JSON object");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string()) fail(where, "__metadata__ entry '", m.key(), "' is not a string");
                metadata_.emplace(m.key(), m.value().get<std::string>());
            }
            continue;
        }
        const std::string tw = where + ": tensor '" + name + "'";
        if (!v.is_object()) fail(tw, "entry is not a JSON object");
        const auto dt = v.find("dtype");
        if (dt == v.end() || !dt->is_string()) fail(tw, "missing or non-string \"dtype\"");
        const auto type = parse_dtype(dt->get<std::string>());
        if (!type) fail(tw, "unknown dtype '", dt->get<std::string>(), "'");
        const auto sh = v.find("shape");
        if (sh == v.end() || !sh->is_array()) fail(tw, "missing or non-array \"shape\"");
        const auto off = v.find("data_offsets");
        if (off == v.end() || !off->is_array() || off->size() != 2)
            fail(tw, "\"data_offsets\" must be an array [begin, end]");

        tensor_info t;
        t.name = name;
        t.type = *type;
        std::uint64_t elems = 1;
        for (std::size_t d = 0; d < sh->size(); ++d) {
            const json& e = (*sh)[d];
            if (!e.is_number_unsigned()) fail(tw, "shape dimension ", d, " is not a non-negative integer");
            const std::uint64_t x = e.get<std::uint64_t>();
            if (x > static_cast<std::uint64_t>(INT64_MAX) || detail::mul_overflows(elems, x, elems))
                fail(tw, "shape ", sh->dump(), " overflows 64 bits");
            t.shape.push_back(static_cast<std::int64_t>(x));
        }
        for (int k = 0; k < 2; ++k)
            if (!(*off)[k].is_number_unsigned()) fail(tw, "data_offsets[", k, "] is not a non-negative integer");
        t.begin = (*off)[0].get<std::uint64_t>();
        t.end = (*off)[1].get<std::uint64_t>();
        if (t.end < t.begin) fail(tw, "data_offsets [", t.begin, ", ", t.end, "] end before begin");
        if (t.end > data_size)
            fail(tw, "data_offsets end ", t.end, " is past the end of the data section (", data_size, " bytes)");
        std::uint64_t bytes;
        if (detail::mul_overflows(elems, dtype_size(t.type), bytes) || bytes > static_cast<std::uint64_t>(INT64_MAX))
            fail(tw, "shape ", shape_string(t.shape), " overflows 64 bits");
        if (bytes != t.end - t.begin)
            fail(tw, "shape ", shape_string(t.shape), " of dtype ", dtype_name(t.type), " needs ", bytes,
                 " bytes but data_offsets [", t.begin, ", ", t.end, "] span ", t.end - t.begin);
        tensors_.push_back(std::move(t));
    }

    // The ranges must tile [0, data_size) exactly: sorted by offset, each
    // begins where the previous one ended (the reference implementation
    // rejects holes and overlaps the same way).
    std::stable_sort(tensors_.begin(), tensors_.end(), [](const tensor_info& a, const tensor_info& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    std::uint64_t expected = 0;
    const tensor_info* prev = nullptr;
    for (const auto& t : tensors_) {
        if (t.begin < expected)
            fail(where + ": tensor '" + t.name + "'", "data_offsets [", t.begin, ", ", t.end, "] overlap tensor '",
                 prev->name, "' (which ends at ", expected, ")");
        if (t.begin > expected)
            fail(where + ": tensor '" + t.name + "'", "begins at ", t.begin, " but ",
                 prev ? "the previous tensor '" + prev->name + "' ends" : std::string("the data section starts"),
                 " at ", expected, ": offsets must tile the data section without holes");
        expected = t.end;
        prev = &t;
    }
    if (expected != data_size)
        fail(where, "the tensors cover ", expected, " bytes of a ", data_size,
             "-byte data section (trailing bytes not described by the header)");
    index_.clear();
    index_.reserve(tensors_.size());
    for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

inline bool safetensors_file::contains(std::string_view name) const { return index_.count(std::string(name)) != 0; }

inline const tensor_info& safetensors_file::tensor(std::string_view name) const {
    const auto it = index_.find(std::string(name));
    if (it == index_.end())
        fail("lethe::io::safetensors '" + label_ + "'", "no tensor named '", name, "' (file has ", tensors_.size(),
             " tensors)");
    return tensors_[it->second];
}

inline std::span<const std::byte> safetensors_file::bytes(const tensor_info& t) const noexcept {
    return {base_ + 8 + header_len_ + t.begin, static_cast<std::size_t>(t.end - t.begin)};
}

namespace detail {
inline void check_loadable(const safetensors_file& f, const tensor_info& t, std::span<const std::int64_t> expected_shape,
                           std::optional<dtype> expected_type) {
    const std::string where = "lethe::io::safetensors '" + f.label() + "': tensor '" + t.name + "'";
    if (expected_type && t.type != *expected_type)
        fail(where, "dtype ", dtype_name(t.type), " in the file, caller expects ", dtype_name(*expected_type));
    if (!is_float_storage(t.type))
        fail(where, "dtype ", dtype_name(t.type), " does not load as float (only F32, F16, BF16; use bytes())");
    if (!std::equal(t.shape.begin(), t.shape.end(), expected_shape.begin(), expected_shape.end()))
        fail(where, "shape ", shape_string(t.shape), " in the file, caller expects ", shape_string(expected_shape));
}
}  // namespace detail

inline void safetensors_file::load_into(std::string_view name, std::span<const std::int64_t> expected_shape, float* dst,
                                        std::optional<dtype> expected_type) const {
    const tensor_info& t = tensor(name);
    detail::check_loadable(*this, t, expected_shape, expected_type);
    detail::stored_to_float(bytes(t).data(), t.type, t.numel(), dst, 1);
}

template <int Rank>
void safetensors_file::load_into(std::string_view name, strided_view<float, Rank, host_space> dst,
                                 std::optional<dtype> expected_type) const {
    const tensor_info& t = tensor(name);
    std::int64_t ext[Rank];
    for (int d = 0; d < Rank; ++d) ext[d] = dst.extent(d);
    detail::check_loadable(*this, t, std::span<const std::int64_t>(ext, Rank), expected_type);
    const std::byte* src = bytes(t).data();
    const std::size_t esz = dtype_size(t.type);
    if constexpr (Rank == 1) {
        detail::stored_to_float(src, t.type, ext[0], dst.data(), dst.stride(0));
    } else if constexpr (Rank == 2) {
        for (index_t i = 0; i < ext[0]; ++i)
            detail::stored_to_float(src + static_cast<std::size_t>(i * ext[1]) * esz, t.type, ext[1],
                                    dst.data() + i * dst.stride(0), dst.stride(1));
    } else {
        for (index_t i = 0; i < ext[0]; ++i)
            for (index_t j = 0; j < ext[1]; ++j)
                detail::stored_to_float(src + static_cast<std::size_t>((i * ext[1] + j) * ext[2]) * esz, t.type,
                                        ext[2], dst.data() + i * dst.stride(0) + j * dst.stride(1), dst.stride(2));
    }
}

inline std::vector<float> safetensors_file::load(std::string_view name) const {
    const tensor_info& t = tensor(name);
    std::vector<float> out(static_cast<std::size_t>(t.numel()));
    load_into(name, t.shape, out.data());
    return out;
}

// ------------------------------------------------------------------ writer

inline void safetensors_writer::add_entry(entry e) {
    const std::string where = "lethe::io::safetensors_writer: tensor '" + e.name + "'";
    if (e.name == "__metadata__") fail(where, "the name is reserved for the metadata map");
    for (const auto& o : entries_)
        if (o.name == e.name) fail(where, "added twice");
    std::uint64_t n = 1;
    for (auto x : e.shape) {
        if (x < 0) fail(where, "negative extent in shape ", shape_string(e.shape));
        if (detail::mul_overflows(n, static_cast<std::uint64_t>(x), n)) fail(where, "shape overflows 64 bits");
    }
    e.numel = static_cast<std::int64_t>(n);
    entries_.push_back(std::move(e));
}

inline void safetensors_writer::add(std::string name, std::span<const std::int64_t> shape, const float* data,
                                    dtype stored) {
    if (!is_float_storage(stored))
        fail("lethe::io::safetensors_writer: tensor '" + name + "'", "float data cannot be stored as ",
             dtype_name(stored), " (use F32, F16 or BF16, or add_raw)");
    entry e;
    e.name = std::move(name);
    e.type = stored;
    e.shape.assign(shape.begin(), shape.end());
    e.floats = data;
    std::int64_t n = 1;
    for (auto x : shape) n *= x;
    e.ext[2] = n;
    if (data == nullptr && n > 0) fail("lethe::io::safetensors_writer: tensor '" + e.name + "'", "null data pointer");
    add_entry(std::move(e));
}

template <class T, int Rank>
void safetensors_writer::add(std::string name, strided_view<T, Rank, host_space> src, dtype stored) {
    static_assert(std::is_same_v<std::remove_const_t<T>, float>, "safetensors_writer::add takes views of float");
    std::int64_t shape[Rank];
    for (int d = 0; d < Rank; ++d) shape[d] = src.extent(d);
    add(std::move(name), std::span<const std::int64_t>(shape, Rank), src.data(), stored);
    entry& e = entries_.back();
    for (int d = 0; d < 3; ++d) {
        const int sd = d - (3 - Rank);
        e.ext[d] = sd < 0 ? 1 : src.extent(sd);
        e.str[d] = sd < 0 ? 0 : src.stride(sd);
    }
}

inline void safetensors_writer::add_raw(std::string name, dtype type, std::span<const std::int64_t> shape,
                                        std::span<const std::byte> bytes) {
    entry e;
    e.name = std::move(name);
    e.type = type;
    e.shape.assign(shape.begin(), shape.end());
    e.raw = bytes;
    const std::string where = "lethe::io::safetensors_writer: tensor '" + e.name + "'";
    add_entry(std::move(e));
    const entry& a = entries_.back();
    if (static_cast<std::uint64_t>(a.numel) * dtype_size(type) != bytes.size()) {
        const auto numel = a.numel;
        entries_.pop_back();
        fail(where, "shape ", shape_string(shape), " of dtype ", dtype_name(type), " needs ",
             static_cast<std::uint64_t>(numel) * dtype_size(type), " bytes, got ", bytes.size());
    }
}

inline void safetensors_writer::set_metadata(std::string key, std::string value) {
    metadata_[std::move(key)] = std::move(value);
}

inline std::vector<const safetensors_writer::entry*> safetensors_writer::ordered() const {
    std::vector<const entry*> order;
    order.reserve(entries_.size());
    for (const auto& e : entries_) order.push_back(&e);
    if (order_ == tensor_order::sorted)
        // The reference's order: dtype descending (which is element size
        // descending, so every tensor stays aligned to its element size), then name.
        std::stable_sort(order.begin(), order.end(), [](const entry* a, const entry* b) {
            if (a->type != b->type) return a->type > b->type;
            return a->name < b->name;
        });
    return order;
}

inline std::string safetensors_writer::header_json(const std::vector<const entry*>& order) const {
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    if (!metadata_.empty()) {
        auto& m = h["__metadata__"] = nlohmann::ordered_json::object();
        for (const auto& [k, v] : metadata_) m[k] = v;
    }
    std::uint64_t offset = 0;
    for (const entry* e : order) {
        const std::uint64_t bytes = static_cast<std::uint64_t>(e->numel) * dtype_size(e->type);
        auto& t = h[e->name] = nlohmann::ordered_json::object();
        t["dtype"] = dtype_name(e->type);
        t["shape"] = e->shape;
        t["data_offsets"] = {offset, offset + bytes};
        offset += bytes;
    }
    std::string s;
    try {
        s = h.dump();
    } catch (const nlohmann::json::exception& e) {
        fail("lethe::io::safetensors_writer", "a tensor name or metadata string is not valid UTF-8: ", e.what());
    }
    s.append((8 - s.size() % 8) % 8, ' ');  // reference: data section starts 8-byte aligned
    return s;
}

inline std::uint64_t safetensors_writer::file_size() const {
    std::uint64_t n = 8 + header_json(ordered()).size();
    for (const auto& e : entries_) n += static_cast<std::uint64_t>(e.numel) * dtype_size(e.type);
    return n;
}

template <class Sink>
void safetensors_writer::emit(Sink& sink) const {
    const auto order = ordered();
    const std::string header = header_json(order);
    const std::uint64_t n = header.size();
    char len[8];
    std::memcpy(len, &n, 8);
    sink.write(std::string_view(len, 8));
    sink.write(header);
    constexpr std::size_t chunk = 16384;  // elements converted per write (64 KB of F32)
    std::vector<char> buf;
    for (const entry* e : order) {
        if (!e->raw.empty() || e->floats == nullptr) {
            sink.write(std::string_view(reinterpret_cast<const char*>(e->raw.data()), e->raw.size()));
            continue;
        }
        const std::size_t esz = dtype_size(e->type);
        for (index_t i = 0; i < e->ext[0]; ++i)
            for (index_t j = 0; j < e->ext[1]; ++j) {
                const float* row = e->floats + i * e->str[0] + j * e->str[1];
                const index_t len_row = e->ext[2], s = e->str[2];
                if (e->type == dtype::f32 && (s == 1 || len_row <= 1)) {
                    sink.write(std::string_view(reinterpret_cast<const char*>(row), sizeof(float) * len_row));
                    continue;
                }
                buf.resize(chunk * esz);
                for (index_t k0 = 0; k0 < len_row; k0 += static_cast<index_t>(chunk)) {
                    const index_t m = std::min<index_t>(static_cast<index_t>(chunk), len_row - k0);
                    char* out = buf.data();
                    if (e->type == dtype::f32) {
                        for (index_t k = 0; k < m; ++k) std::memcpy(out + 4 * k, row + (k0 + k) * s, 4);
                    } else if (e->type == dtype::bf16) {
                        for (index_t k = 0; k < m; ++k) {
                            const std::uint16_t h = float_to_bf16(row[(k0 + k) * s]);
                            std::memcpy(out + 2 * k, &h, 2);
                        }
                    } else {
                        for (index_t k = 0; k < m; ++k) {
                            const std::uint16_t h = detail::float_to_half_branchless(row[(k0 + k) * s]);
                            std::memcpy(out + 2 * k, &h, 2);
                        }
                    }
                    sink.write(std::string_view(out, static_cast<std::size_t>(m) * esz));
                }
            }
    }
}

namespace detail {
struct string_sink {
    std::string& out;
    void write(std::string_view s) { out.append(s); }
};
}  // namespace detail

inline std::string safetensors_writer::serialize() const {
    std::string out;
    out.reserve(static_cast<std::size_t>(file_size()));
    detail::string_sink sink{out};
    emit(sink);
    return out;
}

inline void safetensors_writer::write(const std::filesystem::path& path) const {
    atomic_writer w(path);
    emit(w);
    w.commit();
}

}  // namespace lethe::io

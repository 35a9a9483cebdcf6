// lethe/io/gguf_impl.hpp - implementation of the GGUF reader (included by gguf.hpp).
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lethe::io {

inline std::string_view gguf_value_type_name(gguf_value_type t) noexcept {
    switch (t) {
        case gguf_value_type::u8: return "u8";
        case gguf_value_type::i8: return "i8";
        case gguf_value_type::u16: return "u16";
        case gguf_value_type::i16: return "i16";
        case gguf_value_type::u32: return "u32";
        case gguf_value_type::i32: return "i32";
        case gguf_value_type::f32: return "f32";
        case gguf_value_type::boolean: return "bool";
        case gguf_value_type::string: return "string";
        case gguf_value_type::array: return "array";
        case gguf_value_type::u64: return "u64";
        case gguf_value_type::i64: return "i64";
        case gguf_value_type::f64: return "f64";
    }
    return "?";
}

namespace gguf_detail {
inline constexpr std::string_view where = "lethe::io::gguf";

inline bool is_signed(gguf_value_type t) noexcept {
    return t == gguf_value_type::i8 || t == gguf_value_type::i16 || t == gguf_value_type::i32 ||
           t == gguf_value_type::i64;
}

// Bytes of one scalar of type t; 0 for string/array (variable length).
inline std::uint64_t scalar_size(gguf_value_type t) noexcept {
    switch (t) {
        case gguf_value_type::u8: case gguf_value_type::i8: case gguf_value_type::boolean: return 1;
        case gguf_value_type::u16: case gguf_value_type::i16: return 2;
        case gguf_value_type::u32: case gguf_value_type::i32: case gguf_value_type::f32: return 4;
        case gguf_value_type::u64: case gguf_value_type::i64: case gguf_value_type::f64: return 8;
        default: return 0;
    }
}

inline file_mapping::file_mapping(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(where, "cannot open '", path.string(), "': ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        fail(where, "cannot stat '", path.string(), "': ", std::strerror(e));
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int e = errno;
            ::close(fd);
            fail(where, "cannot map '", path.string(), "' (", size_, " bytes): ", std::strerror(e));
        }
        data_ = static_cast<const unsigned char*>(p);
    }
    ::close(fd);  // the mapping keeps the file alive
}

inline file_mapping::~file_mapping() {
    if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
}
}  // namespace gguf_detail

// ---- gguf_value accessors ----------------------------------------------------

inline bool gguf_value::is_integer() const noexcept {
    return gguf_detail::scalar_size(type) > 0 && type != gguf_value_type::f32 && type != gguf_value_type::f64 &&
           type != gguf_value_type::boolean;
}

inline std::uint64_t gguf_value::as_u64(std::string_view key) const {
    require(is_integer(), gguf_detail::where, "key '", key, "' is ", gguf_value_type_name(type), ", not an integer");
    if (gguf_detail::is_signed(type))
        require(static_cast<std::int64_t>(bits) >= 0, gguf_detail::where, "key '", key, "' is negative (",
                static_cast<std::int64_t>(bits), ")");
    return bits;
}

inline std::int64_t gguf_value::as_i64(std::string_view key) const {
    require(is_integer(), gguf_detail::where, "key '", key, "' is ", gguf_value_type_name(type), ", not an integer");
    if (!gguf_detail::is_signed(type))
        require(bits <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), gguf_detail::where,
                "key '", key, "' = ", bits, " does not fit in int64");
    return static_cast<std::int64_t>(bits);
}

inline double gguf_value::as_f64(std::string_view key) const {
    if (type == gguf_value_type::f32 || type == gguf_value_type::f64) return real;
    if (is_integer())
        return gguf_detail::is_signed(type) ? static_cast<double>(static_cast<std::int64_t>(bits))
                                            : static_cast<double>(bits);
    fail(gguf_detail::where, "key '", key, "' is ", gguf_value_type_name(type), ", not a number");
}

inline bool gguf_value::as_bool(std::string_view key) const {
    require(type == gguf_value_type::boolean, gguf_detail::where, "key '", key, "' is ", gguf_value_type_name(type),
            ", not a bool");
    return bits != 0;
}

inline const std::string& gguf_value::as_string(std::string_view key) const {
    require(is_string(), gguf_detail::where, "key '", key, "' is ", gguf_value_type_name(type), ", not a string");
    return text;
}

inline const std::vector<gguf_value>& gguf_value::as_array(std::string_view key) const {
    require(is_array(), gguf_detail::where, "key '", key, "' is ", gguf_value_type_name(type), ", not an array");
    return items;
}

// ---- parser ---------------------------------------------------------------

// Cursor over the file bytes; every read checks the remaining length first.
class gguf_parser {
public:
    gguf_parser(std::span<const unsigned char> bytes, const std::string& source) : b_(bytes), source_(source) {}

    void run(gguf_file& f) {
        need(4, "magic");
        if (std::memcmp(b_.data(), "GGUF", 4) != 0) fail_at(0, "not a GGUF file (magic is not 'GGUF')");
        pos_ = 4;
        f.version_ = read_u32("version");
        if (f.version_ != 2 && f.version_ != 3)
            fail_at(4, "GGUF version ", f.version_, " is not supported (v2 and v3 are)");
        const std::uint64_t n_tensors = read_u64("tensor_count");
        const std::uint64_t n_kv = read_u64("kv_count");
        // Each kv needs >= 8 (key length) + 4 (type) + 1 bytes; each tensor info
        // >= 8 + 4 + 4 + 8 bytes: bound the counts before reserving.
        if (n_kv > remaining() / 13) fail_at(16, "kv_count ", n_kv, " cannot fit in the ", remaining(), " bytes left");
        if (n_tensors > remaining() / 24)
            fail_at(8, "tensor_count ", n_tensors, " cannot fit in the ", remaining(), " bytes left");

        f.kv_.reserve(static_cast<std::size_t>(n_kv));
        for (std::uint64_t i = 0; i < n_kv; ++i) {
            const std::size_t at = pos_;
            std::string key = read_string("metadata key");
            const auto type = read_type("metadata value type of '" + key + "'");
            gguf_value v = read_value(type, key, 0);
            if (!f.kv_index_.emplace(key, f.kv_.size()).second) fail_at(at, "duplicate metadata key '", key, "'");
            f.kv_.emplace_back(std::move(key), std::move(v));
        }

        if (const gguf_value* a = f.find("general.alignment")) {
            const std::uint64_t al = a->as_u64("general.alignment");
            if (al == 0 || (al & (al - 1)) != 0 || al > (1u << 20))
                fail(gguf_detail::where, source_, ": general.alignment = ", al, " is not a power of two <= 1 MiB");
            f.alignment_ = al;
        }

        f.tensors_.reserve(static_cast<std::size_t>(n_tensors));
        for (std::uint64_t i = 0; i < n_tensors; ++i) f.tensors_.push_back(read_tensor_info(i));

        // Data section: after the infos, padded to the alignment.
        const std::uint64_t data_start = (pos_ + f.alignment_ - 1) / f.alignment_ * f.alignment_;
        if (n_tensors > 0 && data_start > b_.size())
            fail_at(pos_, "data section would start at ", data_start, " beyond the end of the file (", b_.size(), ")");
        f.data_offset_ = data_start;
        const std::uint64_t data_size = data_start <= b_.size() ? b_.size() - data_start : 0;
        for (std::size_t i = 0; i < f.tensors_.size(); ++i) {
            auto& t = f.tensors_[i];
            if (t.offset % f.alignment_ != 0)
                fail(gguf_detail::where, source_, ": tensor '", t.name, "': offset ", t.offset,
                     " is not a multiple of the alignment ", f.alignment_);
            if (t.offset > data_size || static_cast<std::uint64_t>(t.bytes) > data_size - t.offset)
                fail(gguf_detail::where, source_, ": tensor '", t.name, "': bytes [", t.offset, ", ",
                     t.offset + static_cast<std::uint64_t>(t.bytes), ") of the data section run past its end (",
                     data_size, " bytes; file truncated?)");
            t.data = b_.data() + data_start + t.offset;
            if (!f.tensor_index_.emplace(t.name, i).second)
                fail(gguf_detail::where, source_, ": duplicate tensor name '", t.name, "'");
        }
        // Tensors may leave gaps (padding) but never share bytes: a tensor
        // written through one name must not change another.
        std::vector<const gguf_tensor_info*> by_offset;
        by_offset.reserve(f.tensors_.size());
        for (const auto& t : f.tensors_) by_offset.push_back(&t);
        std::sort(by_offset.begin(), by_offset.end(),
                  [](const gguf_tensor_info* a, const gguf_tensor_info* b) { return a->offset < b->offset; });
        for (std::size_t i = 1; i < by_offset.size(); ++i) {
            const gguf_tensor_info& a = *by_offset[i - 1];
            const gguf_tensor_info& b = *by_offset[i];
            const std::uint64_t a_end = a.offset + static_cast<std::uint64_t>(a.bytes);
            if (b.offset < a_end)
                fail(gguf_detail::where, source_, ": tensor '", b.name, "': bytes [", b.offset, ", ",
                     b.offset + static_cast<std::uint64_t>(b.bytes), ") of the data section overlap tensor '", a.name,
                     "' (bytes [", a.offset, ", ", a_end, "))");
        }
    }

private:
    static constexpr int max_array_depth = 4;
    static constexpr std::uint32_t max_dims = 4;  // GGML_MAX_DIMS

    std::span<const unsigned char> b_;
    const std::string& source_;
    std::size_t pos_ = 0;

    std::size_t remaining() const noexcept { return b_.size() - pos_; }

    template <class... Parts>
    [[noreturn]] void fail_at(std::size_t offset, Parts&&... parts) const {
        fail(gguf_detail::where, source_, ": byte ", offset, ": ", std::forward<Parts>(parts)...);
    }
    void need(std::uint64_t n, std::string_view what) const {
        if (n > remaining())
            fail_at(pos_, what, " needs ", n, " bytes but only ", remaining(), " remain (file truncated?)");
    }
    std::uint32_t read_u32(std::string_view what) {
        need(4, what);
        const std::uint32_t v = detail::load_u32(b_.data() + pos_);
        pos_ += 4;
        return v;
    }
    std::uint64_t read_u64(std::string_view what) {
        need(8, what);
        const std::uint64_t lo = detail::load_u32(b_.data() + pos_);
        const std::uint64_t hi = detail::load_u32(b_.data() + pos_ + 4);
        pos_ += 8;
        return lo | (hi << 32);
    }
    std::string read_string(std::string_view what) {
        const std::size_t at = pos_;
        const std::uint64_t n = read_u64(what);
        if (n > remaining())
            fail_at(at, what, ": string length ", n, " exceeds the ", remaining(), " bytes left");
        std::string s(reinterpret_cast<const char*>(b_.data() + pos_), static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }
    gguf_value_type read_type(const std::string& what) {
        const std::size_t at = pos_;
        const std::uint32_t t = read_u32(what);
        if (t > 12) fail_at(at, what, ": unknown value type ", t);
        return static_cast<gguf_value_type>(t);
    }

    gguf_value read_value(gguf_value_type type, const std::string& key, int depth) {
        gguf_value v;
        v.type = type;
        const std::uint64_t size = gguf_detail::scalar_size(type);
        if (size > 0) {
            need(size, "value of '" + key + "'");
            const unsigned char* p = b_.data() + pos_;
            std::uint64_t raw = 0;
            for (std::uint64_t k = 0; k < size; ++k) raw |= static_cast<std::uint64_t>(p[k]) << (8 * k);
            pos_ += static_cast<std::size_t>(size);
            switch (type) {
                case gguf_value_type::i8: v.bits = static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int8_t>(raw))); break;
                case gguf_value_type::i16: v.bits = static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int16_t>(raw))); break;
                case gguf_value_type::i32: v.bits = static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int32_t>(raw))); break;
                case gguf_value_type::f32: {
                    float f;
                    const auto r32 = static_cast<std::uint32_t>(raw);
                    std::memcpy(&f, &r32, 4);
                    v.real = f;
                    break;
                }
                case gguf_value_type::f64: std::memcpy(&v.real, &raw, 8); break;
                case gguf_value_type::boolean:
                    if (raw > 1) fail_at(pos_ - 1, "bool value of '", key, "' is ", raw, " (must be 0 or 1)");
                    v.bits = raw;
                    break;
                default: v.bits = raw; break;
            }
            return v;
        }
        if (type == gguf_value_type::string) {
            v.text = read_string("string value of '" + key + "'");
            return v;
        }
        // array
        if (depth >= max_array_depth) fail_at(pos_, "arrays nested deeper than ", max_array_depth, " in '", key, "'");
        v.element_type = read_type("array element type of '" + key + "'");
        const std::size_t at = pos_;
        const std::uint64_t n = read_u64("array length of '" + key + "'");
        // Each element takes >= 1 byte (scalars) or >= 8 (string/array headers).
        const std::uint64_t min_elem = std::max<std::uint64_t>(gguf_detail::scalar_size(v.element_type), 8 * (gguf_detail::scalar_size(v.element_type) == 0));
        if (n > remaining() / min_elem)
            fail_at(at, "array '", key, "' claims ", n, " elements of ", gguf_value_type_name(v.element_type),
                    " but only ", remaining(), " bytes remain");
        v.items.reserve(static_cast<std::size_t>(n));
        for (std::uint64_t i = 0; i < n; ++i) v.items.push_back(read_value(v.element_type, key, depth + 1));
        return v;
    }

    gguf_tensor_info read_tensor_info(std::uint64_t index) {
        gguf_tensor_info t;
        const std::size_t at = pos_;
        t.name = read_string("tensor name");
        const std::uint32_t nd = read_u32("n_dims of tensor '" + t.name + "'");
        if (nd == 0 || nd > max_dims) fail_at(at, "tensor ", index, " '", t.name, "': n_dims ", nd, " not in 1..", max_dims);
        t.dims.resize(nd);
        std::int64_t elements = 1;
        for (std::uint32_t d = 0; d < nd; ++d) {
            const std::uint64_t n = read_u64("dims of tensor '" + t.name + "'");
            // 2^40 per dimension and 2^50 in total: far above any real model, far
            // below int64 overflow in the byte arithmetic that follows.
            if (n == 0 || n > (std::uint64_t{1} << 40))
                fail_at(at, "tensor '", t.name, "': dimension ", d, " = ", n, " is out of range");
            if (static_cast<std::uint64_t>(elements) > (std::uint64_t{1} << 50) / n)
                fail_at(at, "tensor '", t.name, "': element count overflows");
            t.dims[d] = static_cast<std::int64_t>(n);
            elements *= static_cast<std::int64_t>(n);
        }
        t.elements = elements;
        const std::size_t type_at = pos_;
        const std::uint32_t type = read_u32("type of tensor '" + t.name + "'");
        if (!ggml_type_known(type))
            fail_at(type_at, "tensor '", t.name, "': ggml type ", type, " is not supported by lethe");
        t.type = static_cast<ggml_type>(type);
        const auto tr = ggml_traits(t.type);
        if (t.dims[0] % tr.block_elements != 0)
            fail_at(at, "tensor '", t.name, "': row of ", t.dims[0], " elements is not a multiple of the ", tr.name,
                    " block size ", tr.block_elements);
        t.bytes = ggml_row_bytes(t.type, t.dims[0]) * (elements / t.dims[0]);
        t.offset = read_u64("offset of tensor '" + t.name + "'");
        return t;
    }
};

// ---- gguf_file --------------------------------------------------------------

inline gguf_file gguf_file::open(const std::filesystem::path& path) {
    auto mapping = std::make_shared<gguf_detail::file_mapping>(path);
    gguf_file f = parse(std::span<const unsigned char>(mapping->data(), mapping->size()), path.string());
    f.mapping_ = std::move(mapping);
    return f;
}

inline gguf_file gguf_file::parse(std::span<const unsigned char> bytes, std::string source_name) {
    gguf_file f;
    f.bytes_ = bytes;
    f.source_ = std::move(source_name);
    gguf_parser(bytes, f.source_).run(f);
    return f;
}

inline const gguf_value* gguf_file::find(std::string_view key) const noexcept {
    const auto it = kv_index_.find(std::string(key));
    return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

inline const gguf_value& gguf_file::at(std::string_view key) const {
    const gguf_value* v = find(key);
    if (!v) fail(gguf_detail::where, source_, ": metadata key '", key, "' is missing");
    return *v;
}

inline bool gguf_file::get_bool(std::string_view key, bool fallback) const {
    const gguf_value* v = find(key);
    return v ? v->as_bool(key) : fallback;
}

inline std::vector<std::string> gguf_file::get_string_array(std::string_view key) const {
    const auto& v = at(key);
    const auto& items = v.as_array(key);
    require(v.element_type == gguf_value_type::string, gguf_detail::where, source_, ": key '", key,
            "' is an array of ", gguf_value_type_name(v.element_type), ", not of strings");
    std::vector<std::string> out;
    out.reserve(items.size());
    for (const auto& s : items) out.push_back(s.text);
    return out;
}

inline std::vector<std::int64_t> gguf_file::get_int_array(std::string_view key) const {
    const auto& items = at(key).as_array(key);
    std::vector<std::int64_t> out;
    out.reserve(items.size());
    for (const auto& s : items) out.push_back(s.as_i64(key));
    return out;
}

inline const gguf_tensor_info* gguf_file::find_tensor(std::string_view name) const noexcept {
    const auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

inline const gguf_tensor_info& gguf_file::tensor(std::string_view name) const {
    const gguf_tensor_info* t = find_tensor(name);
    if (!t) fail(gguf_detail::where, source_, ": tensor '", name, "' is missing");
    return *t;
}

inline std::vector<float> gguf_file::dequantize(const gguf_tensor_info& t) const {
    std::vector<float> out(static_cast<std::size_t>(t.elements));
    dequantize(seq, t, std::span<float>(out));
    return out;
}

}  // namespace lethe::io

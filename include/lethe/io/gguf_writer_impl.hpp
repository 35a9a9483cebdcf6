// lethe/io/gguf_writer_impl.hpp - implementation of gguf_writer.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>

#include "atomic_file.hpp"
#include "float16.hpp"

namespace lethe::io {

namespace gguf_writer_detail {
inline constexpr std::string_view where = "lethe::io::gguf_writer";

inline gguf_value integer(gguf_value_type t, std::uint64_t bits) {
    gguf_value v;
    v.type = t;
    v.bits = bits;
    return v;
}
inline std::uint64_t sext(std::int64_t x) { return static_cast<std::uint64_t>(x); }

// Validates a value tree before anything is written (the reader's limits).
inline void check_value(const gguf_value& v, const std::string& key, int depth) {
    const auto t = static_cast<std::uint32_t>(v.type);
    require(t <= 12, where, "key '", key, "': unknown value type ", t);
    if (v.type == gguf_value_type::boolean)
        require(v.bits <= 1, where, "key '", key, "': bool value ", v.bits, " is not 0 or 1");
    if (!v.is_array()) return;
    require(depth < 4, where, "key '", key, "': arrays nested deeper than 4");
    require(static_cast<std::uint32_t>(v.element_type) <= 12, where, "key '", key, "': unknown array element type ",
            static_cast<std::uint32_t>(v.element_type));
    for (std::size_t i = 0; i < v.items.size(); ++i) {
        require(v.items[i].type == v.element_type, where, "key '", key, "': array item ", i, " is ",
                gguf_value_type_name(v.items[i].type), ", the array holds ", gguf_value_type_name(v.element_type));
        check_value(v.items[i], key, depth + 1);
    }
}

// Little-endian byte sink over a std::ostream or a byte vector.
template <class Out>
struct sink {
    Out& out;
    std::uint64_t written = 0;
    void bytes(const void* p, std::size_t n) {
        if constexpr (std::is_same_v<Out, std::vector<unsigned char>>) {
            const auto* c = static_cast<const unsigned char*>(p);
            out.insert(out.end(), c, c + n);
        } else {
            out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
        }
        written += n;
    }
    void uint(std::uint64_t v, int size) {
        unsigned char b[8];
        for (int k = 0; k < size; ++k) b[k] = static_cast<unsigned char>((v >> (8 * k)) & 0xff);
        bytes(b, static_cast<std::size_t>(size));
    }
    void str(std::string_view s) {
        uint(s.size(), 8);
        bytes(s.data(), s.size());
    }
    void zeros(std::uint64_t n) {
        static const unsigned char z[64] = {};
        while (n > 0) {
            const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, sizeof z));
            bytes(z, k);
            n -= k;
        }
    }
    void value(const gguf_value& v) {
        switch (v.type) {
            case gguf_value_type::u8: case gguf_value_type::i8: case gguf_value_type::boolean: uint(v.bits, 1); break;
            case gguf_value_type::u16: case gguf_value_type::i16: uint(v.bits, 2); break;
            case gguf_value_type::u32: case gguf_value_type::i32: uint(v.bits, 4); break;
            case gguf_value_type::u64: case gguf_value_type::i64: uint(v.bits, 8); break;
            case gguf_value_type::f32: {
                const float f = static_cast<float>(v.real);
                std::uint32_t u;
                std::memcpy(&u, &f, 4);
                uint(u, 4);
                break;
            }
            case gguf_value_type::f64: {
                std::uint64_t u;
                std::memcpy(&u, &v.real, 8);
                uint(u, 8);
                break;
            }
            case gguf_value_type::string: str(v.text); break;
            case gguf_value_type::array:
                uint(static_cast<std::uint32_t>(v.element_type), 4);
                uint(v.items.size(), 8);
                for (const auto& item : v.items) value(item);
                break;
        }
    }
};

inline std::uint64_t padded(std::uint64_t n, std::uint64_t a) { return (n + a - 1) / a * a; }
}  // namespace gguf_writer_detail

// ---- value builders ---------------------------------------------------------

inline gguf_value gguf_u8(std::uint8_t v) { return gguf_writer_detail::integer(gguf_value_type::u8, v); }
inline gguf_value gguf_i8(std::int8_t v) { return gguf_writer_detail::integer(gguf_value_type::i8, gguf_writer_detail::sext(v)); }
inline gguf_value gguf_u16(std::uint16_t v) { return gguf_writer_detail::integer(gguf_value_type::u16, v); }
inline gguf_value gguf_i16(std::int16_t v) { return gguf_writer_detail::integer(gguf_value_type::i16, gguf_writer_detail::sext(v)); }
inline gguf_value gguf_u32(std::uint32_t v) { return gguf_writer_detail::integer(gguf_value_type::u32, v); }
inline gguf_value gguf_i32(std::int32_t v) { return gguf_writer_detail::integer(gguf_value_type::i32, gguf_writer_detail::sext(v)); }
inline gguf_value gguf_u64(std::uint64_t v) { return gguf_writer_detail::integer(gguf_value_type::u64, v); }
inline gguf_value gguf_i64(std::int64_t v) { return gguf_writer_detail::integer(gguf_value_type::i64, gguf_writer_detail::sext(v)); }
inline gguf_value gguf_bool(bool v) { return gguf_writer_detail::integer(gguf_value_type::boolean, v ? 1 : 0); }
inline gguf_value gguf_f32(float v) {
    gguf_value x;
    x.type = gguf_value_type::f32;
    x.real = v;
    return x;
}
inline gguf_value gguf_f64(double v) {
    gguf_value x;
    x.type = gguf_value_type::f64;
    x.real = v;
    return x;
}
inline gguf_value gguf_string(std::string v) {
    gguf_value x;
    x.type = gguf_value_type::string;
    x.text = std::move(v);
    return x;
}
inline gguf_value gguf_array(gguf_value_type element_type, std::vector<gguf_value> items) {
    gguf_value x;
    x.type = gguf_value_type::array;
    x.element_type = element_type;
    x.items = std::move(items);
    return x;
}
inline gguf_value gguf_string_array(std::span<const std::string> items) {
    std::vector<gguf_value> v;
    v.reserve(items.size());
    for (const auto& s : items) v.push_back(gguf_string(s));
    return gguf_array(gguf_value_type::string, std::move(v));
}
inline gguf_value gguf_i32_array(std::span<const std::int32_t> items) {
    std::vector<gguf_value> v;
    v.reserve(items.size());
    for (auto s : items) v.push_back(gguf_i32(s));
    return gguf_array(gguf_value_type::i32, std::move(v));
}

// ---- Q8_0 -------------------------------------------------------------------

inline void quantize_q8_0(const float* x, index_t n, unsigned char* dst) {
    require(n % ggml_qk == 0, gguf_writer_detail::where, "Q8_0 needs a multiple of ", ggml_qk, " values, got ", n);
    for (index_t b = 0; b < n / ggml_qk; ++b) {
        const float* v = x + b * ggml_qk;
        unsigned char* out = dst + b * 34;
        float amax = 0.0f;
        for (index_t j = 0; j < ggml_qk; ++j) amax = std::max(amax, std::fabs(v[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const std::uint16_t h = float_to_half(d);
        out[0] = static_cast<unsigned char>(h & 0xff);
        out[1] = static_cast<unsigned char>(h >> 8);
        for (index_t j = 0; j < ggml_qk; ++j)
            out[2 + j] = static_cast<unsigned char>(static_cast<std::int8_t>(std::round(v[j] * id)));
    }
}

// ---- gguf_writer ------------------------------------------------------------

inline void gguf_writer::set(std::string key, gguf_value value) {
    using namespace gguf_writer_detail;
    require(!key.empty(), where, "metadata key must not be empty");
    check_value(value, key, 0);
    if (key == "general.alignment") {
        require(value.type == gguf_value_type::u32, where, "general.alignment must be u32, got ",
                gguf_value_type_name(value.type));
        const std::uint64_t a = value.bits;
        require(a > 0 && (a & (a - 1)) == 0 && a <= (1u << 20), where, "general.alignment = ", a,
                " is not a power of two <= 1 MiB");
    }
    const auto it = kv_index_.find(key);
    if (it != kv_index_.end()) {
        kv_[it->second].second = std::move(value);
        return;
    }
    kv_index_.emplace(key, kv_.size());
    kv_.emplace_back(std::move(key), std::move(value));
}

inline const gguf_value* gguf_writer::find(std::string_view key) const noexcept {
    const auto it = kv_index_.find(std::string(key));
    return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

inline std::uint64_t gguf_writer::alignment() const {
    const gguf_value* a = find("general.alignment");
    return a ? a->bits : 32;
}

inline void gguf_writer::add_tensor_bytes(std::string name, std::vector<std::int64_t> dims, ggml_type type,
                                          std::vector<unsigned char> bytes) {
    using namespace gguf_writer_detail;
    require(!name.empty(), where, "tensor name must not be empty");
    require(!tensor_index_.contains(name), where, "duplicate tensor name '", name, "'");
    require(ggml_type_known(static_cast<std::uint32_t>(type)), where, "tensor '", name, "': unknown ggml type ",
            static_cast<std::uint32_t>(type));
    require(!dims.empty() && dims.size() <= 4, where, "tensor '", name, "': ", dims.size(), " dims (1..4 allowed)");
    std::int64_t elements = 1;
    for (std::size_t d = 0; d < dims.size(); ++d) {
        require(dims[d] > 0 && dims[d] <= (std::int64_t{1} << 40), where, "tensor '", name, "': dimension ", d, " = ",
                dims[d], " is out of range");
        elements *= dims[d];
    }
    const auto tr = ggml_traits(type);
    require(dims[0] % tr.block_elements == 0, where, "tensor '", name, "': row of ", dims[0],
            " elements is not a multiple of the ", tr.name, " block size ", tr.block_elements);
    const std::int64_t want = ggml_row_bytes(type, dims[0]) * (elements / dims[0]);
    require(static_cast<std::int64_t>(bytes.size()) == want, where, "tensor '", name, "': ", bytes.size(),
            " bytes given, ", tr.name, " ", elements, " elements need ", want);
    tensor_index_.emplace(name, tensors_.size());
    tensors_.push_back({std::move(name), std::move(dims), type, std::move(bytes)});
}

inline void gguf_writer::add_tensor(std::string name, std::vector<std::int64_t> dims, const float* data,
                                    ggml_type type) {
    using namespace gguf_writer_detail;
    require(type == ggml_type::f32 || type == ggml_type::f16 || type == ggml_type::bf16 || type == ggml_type::q8_0,
            where, "tensor '", name, "': cannot encode floats as ", ggml_traits(type).name,
            " (F32, F16, BF16 and Q8_0 can be written)");
    std::int64_t n = 1;
    for (auto d : dims) {
        require(d > 0, where, "tensor '", name, "': dimension ", d, " is not positive");
        n *= d;
    }
    require(!dims.empty() && dims[0] % ggml_traits(type).block_elements == 0, where, "tensor '", name, "': row of ",
            dims.empty() ? 0 : dims[0], " elements is not a multiple of the ", ggml_traits(type).name, " block size");
    std::vector<unsigned char> b(static_cast<std::size_t>(ggml_row_bytes(type, dims[0]) * (n / dims[0])));
    switch (type) {
        case ggml_type::f32: std::memcpy(b.data(), data, b.size()); break;
        case ggml_type::f16:
        case ggml_type::bf16:
            for (std::int64_t i = 0; i < n; ++i) {
                const std::uint16_t h = type == ggml_type::f16 ? float_to_half(data[i]) : float_to_bf16(data[i]);
                b[std::size_t(2 * i)] = static_cast<unsigned char>(h & 0xff);
                b[std::size_t(2 * i + 1)] = static_cast<unsigned char>(h >> 8);
            }
            break;
        default: quantize_q8_0(data, n, b.data()); break;
    }
    add_tensor_bytes(std::move(name), std::move(dims), type, std::move(b));
}

template <class Sink>
void gguf_writer::emit(Sink& s) const {
    using namespace gguf_writer_detail;
    const std::uint64_t align = alignment();
    s.bytes("GGUF", 4);
    s.uint(3, 4);
    s.uint(tensors_.size(), 8);
    s.uint(kv_.size(), 8);
    for (const auto& [key, v] : kv_) {
        s.str(key);
        s.uint(static_cast<std::uint32_t>(v.type), 4);
        s.value(v);
    }
    std::uint64_t offset = 0;
    for (const auto& t : tensors_) {
        s.str(t.name);
        s.uint(t.dims.size(), 4);
        for (auto d : t.dims) s.uint(static_cast<std::uint64_t>(d), 8);
        s.uint(static_cast<std::uint32_t>(t.type), 4);
        s.uint(offset, 8);
        offset += padded(t.bytes.size(), align);
    }
    s.zeros(padded(s.written, align) - s.written);
    for (const auto& t : tensors_) {
        s.bytes(t.bytes.data(), t.bytes.size());
        s.zeros(padded(t.bytes.size(), align) - t.bytes.size());
    }
}

inline std::vector<unsigned char> gguf_writer::bytes() const {
    std::vector<unsigned char> out;
    gguf_writer_detail::sink<std::vector<unsigned char>> s{out};
    emit(s);
    return out;
}

inline void gguf_writer::write(const std::filesystem::path& path) const {
    atomic_writer w(path);
    gguf_writer_detail::sink<std::ofstream> s{w.stream()};
    emit(s);
    w.commit();  // checks the stream: a failed write throws and removes the temporary
}

}  // namespace lethe::io

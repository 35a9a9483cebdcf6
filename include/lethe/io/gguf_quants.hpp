// lethe/io/gguf_quants.hpp - ggml tensor types and their dequantisation to float.
//
// Block layouts are those of ggml (ggml-common.h, the format llama.cpp writes
// into GGUF files); each decoder below restates one layout in a comment. The
// arithmetic follows ggml's reference dequantisers operation for operation
// (same float products in the same order), so results are bit-identical to
// llama.cpp's `dequantize_row_*`.
//
// All decoders are LETHE_HD, allocation-free and read exactly
// `ggml_row_bytes(type, n)` bytes, so they can run per row inside
// `policy.parallel_for` on the host or under thrust's CUDA system.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "../core/config.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "float16.hpp"

namespace lethe::io {

// ggml_type ids as stored in GGUF tensor infos (ggml.h). Only the ones lethe
// decodes are named; other ids are rejected by `ggml_type_known`.
enum class ggml_type : std::uint32_t {
    f32 = 0,
    f16 = 1,
    q4_0 = 2,
    q4_1 = 3,
    q5_0 = 6,
    q5_1 = 7,
    q8_0 = 8,
    q4_k = 12,
    q5_k = 13,
    q6_k = 14,
    bf16 = 30,
};

// Elements per block and bytes per block of each type.
struct ggml_type_traits {
    std::string_view name;
    index_t block_elements;
    index_t block_bytes;
};

inline constexpr index_t ggml_qk = 32;     // QK4_0 = QK4_1 = QK5_0 = QK5_1 = QK8_0
inline constexpr index_t ggml_qk_k = 256;  // QK_K, super-block of the k-quants

// Returns false for type ids lethe cannot decode (the reader rejects them).
constexpr bool ggml_type_known(std::uint32_t id) noexcept {
    switch (id) {
        case 0: case 1: case 2: case 3: case 6: case 7: case 8: case 12: case 13: case 14: case 30: return true;
        default: return false;
    }
}

constexpr ggml_type_traits ggml_traits(ggml_type t) noexcept {
    switch (t) {
        case ggml_type::f32: return {"F32", 1, 4};
        case ggml_type::f16: return {"F16", 1, 2};
        case ggml_type::bf16: return {"BF16", 1, 2};
        case ggml_type::q4_0: return {"Q4_0", ggml_qk, 2 + 16};                // d, qs[16]
        case ggml_type::q4_1: return {"Q4_1", ggml_qk, 2 + 2 + 16};            // d, m, qs[16]
        case ggml_type::q5_0: return {"Q5_0", ggml_qk, 2 + 4 + 16};            // d, qh[4], qs[16]
        case ggml_type::q5_1: return {"Q5_1", ggml_qk, 2 + 2 + 4 + 16};        // d, m, qh[4], qs[16]
        case ggml_type::q8_0: return {"Q8_0", ggml_qk, 2 + 32};                // d, qs[32]
        case ggml_type::q4_k: return {"Q4_K", ggml_qk_k, 2 + 2 + 12 + 128};    // d, dmin, scales, qs
        case ggml_type::q5_k: return {"Q5_K", ggml_qk_k, 2 + 2 + 12 + 32 + 128};  // + qh[32]
        case ggml_type::q6_k: return {"Q6_K", ggml_qk_k, 128 + 64 + 16 + 2};   // ql, qh, scales, d
    }
    return {"?", 1, 0};
}

// Bytes of `n` elements of type `t`; n must be a multiple of the block size.
constexpr index_t ggml_row_bytes(ggml_type t, index_t n) noexcept {
    const auto tr = ggml_traits(t);
    return n / tr.block_elements * tr.block_bytes;
}

namespace detail {

LETHE_HD inline std::uint16_t load_u16(const unsigned char* p) noexcept {
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));  // GGUF is little-endian
}
LETHE_HD inline std::uint32_t load_u32(const unsigned char* p) noexcept {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
LETHE_HD inline float load_f32(const unsigned char* p) noexcept {
    float f;
    std::memcpy(&f, p, 4);  // x86/ARM/GPU hosts are little-endian, as the file
    return f;
}
LETHE_HD inline float load_half(const unsigned char* p) noexcept { return half_to_float(load_u16(p)); }

// Q4_0 (18 bytes / 32): d:f16, qs[16]; x[j] = d*((qs[j]&15)-8), x[j+16] = d*((qs[j]>>4)-8).
LETHE_HD inline void dequant_block_q4_0(const unsigned char* b, float* y) noexcept {
    const float d = load_half(b);
    const unsigned char* qs = b + 2;
    for (int j = 0; j < 16; ++j) {
        y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
        y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
    }
}

// Q4_1 (20 bytes / 32): d:f16, m:f16, qs[16]; x = q*d + m with the Q4_0 nibble order.
LETHE_HD inline void dequant_block_q4_1(const unsigned char* b, float* y) noexcept {
    const float d = load_half(b);
    const float m = load_half(b + 2);
    const unsigned char* qs = b + 4;
    for (int j = 0; j < 16; ++j) {
        y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
        y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
    }
}

// Q5_0 (22 bytes / 32): d:f16, qh:u32 (bit j = 5th bit of element j), qs[16];
// x = d*(q - 16) with q = low nibble | high bit << 4.
LETHE_HD inline void dequant_block_q5_0(const unsigned char* b, float* y) noexcept {
    const float d = load_half(b);
    const std::uint32_t qh = load_u32(b + 2);
    const unsigned char* qs = b + 6;
    for (int j = 0; j < 16; ++j) {
        const int h0 = static_cast<int>(((qh >> j) << 4) & 0x10);
        const int h1 = static_cast<int>((qh >> (j + 12)) & 0x10);
        y[j] = static_cast<float>(((qs[j] & 0x0F) | h0) - 16) * d;
        y[j + 16] = static_cast<float>(((qs[j] >> 4) | h1) - 16) * d;
    }
}

// Q5_1 (24 bytes / 32): d:f16, m:f16, qh:u32, qs[16]; x = q*d + m.
LETHE_HD inline void dequant_block_q5_1(const unsigned char* b, float* y) noexcept {
    const float d = load_half(b);
    const float m = load_half(b + 2);
    const std::uint32_t qh = load_u32(b + 4);
    const unsigned char* qs = b + 8;
    for (int j = 0; j < 16; ++j) {
        const int h0 = static_cast<int>(((qh >> j) << 4) & 0x10);
        const int h1 = static_cast<int>((qh >> (j + 12)) & 0x10);
        y[j] = static_cast<float>((qs[j] & 0x0F) | h0) * d + m;
        y[j + 16] = static_cast<float>((qs[j] >> 4) | h1) * d + m;
    }
}

// Q8_0 (34 bytes / 32): d:f16, qs[32] int8; x = qs*d.
LETHE_HD inline void dequant_block_q8_0(const unsigned char* b, float* y) noexcept {
    const float d = load_half(b);
    const unsigned char* qs = b + 2;
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<std::int8_t>(qs[j])) * d;
}

// The 12 packed bytes of Q4_K/Q5_K hold 8 six-bit (scale, min) pairs:
// pairs 0..3 in the low 6 bits of bytes 0..3 / 4..7; pairs 4..7 take their low
// 4 bits from bytes 8..11 and their top 2 bits from the top bits of bytes 0..7.
LETHE_HD inline void k_scale_min(int j, const unsigned char* q, int& sc, int& m) noexcept {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// Q4_K (144 bytes / 256): d:f16, dmin:f16, scales[12], qs[128]. Eight
// sub-blocks of 32; sub-block s: x = (d*sc_s)*q - dmin*m_s. Each 32 bytes of
// qs hold two sub-blocks: low nibbles first, then high nibbles.
LETHE_HD inline void dequant_block_q4_k(const unsigned char* b, float* y) noexcept {
    const float d = load_half(b);
    const float dmin = load_half(b + 2);
    const unsigned char* scales = b + 4;
    const unsigned char* q = b + 16;
    for (int is = 0; is < 8; is += 2, q += 32) {
        int sc, m;
        k_scale_min(is, scales, sc, m);
        const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
        k_scale_min(is + 1, scales, sc, m);
        const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
        for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0x0F) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
}

// Q5_K (176 bytes / 256): d, dmin, scales[12], qh[32], qs[128]; as Q4_K plus a
// fifth bit: sub-block s takes bit s of qh[l].
LETHE_HD inline void dequant_block_q5_k(const unsigned char* b, float* y) noexcept {
    const float d = load_half(b);
    const float dmin = load_half(b + 2);
    const unsigned char* scales = b + 4;
    const unsigned char* qh = b + 16;
    const unsigned char* ql = b + 48;
    unsigned u1 = 1, u2 = 2;
    for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
        int sc, m;
        k_scale_min(is, scales, sc, m);
        const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
        k_scale_min(is + 1, scales, sc, m);
        const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
        for (int l = 0; l < 32; ++l)
            *y++ = d1 * static_cast<float>((ql[l] & 0x0F) + ((qh[l] & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; ++l)
            *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
    }
}

// Q6_K (210 bytes / 256): ql[128] low 4 bits, qh[64] high 2 bits,
// scales[16] int8 (one per 16 elements), d:f16; x = (d*scale)*(q - 32).
// Each half (128 elements) uses 64 bytes of ql, 32 of qh and 8 scales.
LETHE_HD inline void dequant_block_q6_k(const unsigned char* b, float* y) noexcept {
    const unsigned char* ql = b;
    const unsigned char* qh = b + 128;
    const unsigned char* sc_bytes = b + 192;
    const float d = load_half(b + 208);
    for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc_bytes += 8) {
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            const auto sc = [&](int k) { return static_cast<float>(static_cast<std::int8_t>(sc_bytes[k])); };
            y[l + 0] = d * sc(is + 0) * static_cast<float>(q1);
            y[l + 32] = d * sc(is + 2) * static_cast<float>(q2);
            y[l + 64] = d * sc(is + 4) * static_cast<float>(q3);
            y[l + 96] = d * sc(is + 6) * static_cast<float>(q4);
        }
    }
}

}  // namespace detail

// Decodes `n` elements of type `t` from `src` (ggml_row_bytes(t, n) bytes)
// into y[0..n). n must be a multiple of the block size (checked by callers on
// the host: the GGUF reader guarantees it for every tensor row).
LETHE_HD inline void dequantize_row(ggml_type t, const void* src, float* y, index_t n) noexcept {
    const auto* b = static_cast<const unsigned char*>(src);
    switch (t) {
        case ggml_type::f32:
            for (index_t i = 0; i < n; ++i) y[i] = detail::load_f32(b + 4 * i);
            return;
        case ggml_type::f16:
            for (index_t i = 0; i < n; ++i) y[i] = detail::load_half(b + 2 * i);
            return;
        case ggml_type::bf16:
            for (index_t i = 0; i < n; ++i) y[i] = bf16_to_float(detail::load_u16(b + 2 * i));
            return;
        default: break;
    }
    const auto tr = ggml_traits(t);
    const index_t blocks = n / tr.block_elements;
    for (index_t k = 0; k < blocks; ++k) {
        const unsigned char* blk = b + k * tr.block_bytes;
        float* out = y + k * tr.block_elements;
        switch (t) {
            case ggml_type::q4_0: detail::dequant_block_q4_0(blk, out); break;
            case ggml_type::q4_1: detail::dequant_block_q4_1(blk, out); break;
            case ggml_type::q5_0: detail::dequant_block_q5_0(blk, out); break;
            case ggml_type::q5_1: detail::dequant_block_q5_1(blk, out); break;
            case ggml_type::q8_0: detail::dequant_block_q8_0(blk, out); break;
            case ggml_type::q4_k: detail::dequant_block_q4_k(blk, out); break;
            case ggml_type::q5_k: detail::dequant_block_q5_k(blk, out); break;
            case ggml_type::q6_k: detail::dequant_block_q6_k(blk, out); break;
            default: return;  // f32/f16/bf16 handled above
        }
    }
}

// Dequantises `rows` rows of `row_elements` elements each (rows stored back to
// back, as in a GGUF tensor) into dst[rows * row_elements], one row per task
// of the policy. Shapes are validated on the host first.
template <execution_policy P>
void dequantize_rows(const P& pol, ggml_type t, const void* src, index_t src_bytes, index_t rows,
                     index_t row_elements, float* dst) {
    constexpr std::string_view where = "lethe::io::dequantize_rows";
    require(rows >= 0 && row_elements >= 0, where, "negative shape ", rows, " x ", row_elements);
    const auto tr = ggml_traits(t);
    require(tr.block_bytes > 0, where, "unknown ggml type ", static_cast<std::uint32_t>(t));
    require(row_elements % tr.block_elements == 0, where, "row of ", row_elements, " elements is not a multiple of the ",
            tr.name, " block (", tr.block_elements, ")");
    const index_t row_bytes = ggml_row_bytes(t, row_elements);
    require(rows == 0 || src_bytes / rows >= row_bytes, where, "source holds ", src_bytes, " bytes, ", rows, " rows of ",
            tr.name, " need ", rows * row_bytes);
    const auto* base = static_cast<const unsigned char*>(src);
    pol.parallel_for(rows, [=] LETHE_HD(index_t r) {
        dequantize_row(t, base + r * row_bytes, dst + r * row_elements, row_elements);
    });
}

}  // namespace lethe::io

// GGUF reader: a synthetic file with every metadata type round-trips; every
// truncation and a catalogue of lying headers throw lethe::error (run under
// ASan, the prefix copies are exactly sized, so any read past them is caught);
// each quantised block type decodes hand-built blocks to the values its layout
// defines.
#define BOOST_TEST_MODULE gguf
#include <lethe/io/gguf.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include <unistd.h>

#include "lethe_test.hpp"
#include "test_gguf_support.hpp"

using namespace lethe::io;
using lethe::index_t;

namespace {

using lethe_test_gguf::gguf_builder;

std::span<const unsigned char> span_of(const std::vector<unsigned char>& v) { return {v.data(), v.size()}; }

// The synthetic file: 14 metadata values of every type (a nested array
// included), alignment 64, three tensors (F32 2x3, F16 4, Q8_0 32x2) with the
// last one ending exactly at the end of the file.
struct synthetic {
    std::vector<unsigned char> bytes;
    std::size_t f16_offset = 0;
};

synthetic make_synthetic(std::uint32_t version = 3) {
    gguf_builder g;
    g.header(version, 3, 15);
    g.key("general.architecture", gguf_value_type::string); g.str("llama");
    g.key("general.alignment", gguf_value_type::u32); g.u32(64);
    g.key("t.u8", gguf_value_type::u8); g.u8(200);
    g.key("t.i8", gguf_value_type::i8); g.u8(0x80);  // -128
    g.key("t.u16", gguf_value_type::u16); g.u16(65535);
    g.key("t.i16", gguf_value_type::i16); g.u16(0xfffe);  // -2
    g.key("t.u32", gguf_value_type::u32); g.u32(4000000000u);
    g.key("t.i32", gguf_value_type::i32); g.u32(0xffffffffu);  // -1
    g.key("t.f32", gguf_value_type::f32); g.f32(0.15625f);
    g.key("t.bool", gguf_value_type::boolean); g.u8(1);
    g.key("t.u64", gguf_value_type::u64); g.u64(0xffffffffffffffffull);
    g.key("t.i64", gguf_value_type::i64); g.u64(static_cast<std::uint64_t>(-5));
    g.key("t.f64", gguf_value_type::f64); g.f64(-2.5);
    g.key("t.strings", gguf_value_type::array); g.u32(8); g.u64(3); g.str("a"); g.str(""); g.str("\xc4\xa0t");
    g.key("t.nested", gguf_value_type::array); g.u32(9); g.u64(2);
    g.u32(5); g.u64(2); g.u32(7); g.u32(static_cast<std::uint32_t>(-7));  // [7, -7] of i32
    g.u32(4); g.u64(0);                                                     // [] of u32
    // Tensors: F32 [3, 2] at 0 (24 bytes), F16 [4] at 64, Q8_0 [32, 2] at 128 (68 bytes).
    g.tensor("w.f32", {3, 2}, ggml_type::f32, 0);
    g.tensor("w.f16", {4}, ggml_type::f16, 64);
    g.tensor("w.q8", {32, 2}, ggml_type::q8_0, 128);
    g.pad_to(64);
    const std::size_t data = g.b.size();
    for (int i = 0; i < 6; ++i) g.f32(static_cast<float>(i) - 2.0f);
    while (g.b.size() < data + 64) g.u8(0);
    for (std::uint16_t h : {0x3c00, 0xc000, 0x3800, 0x0000}) g.u16(h);  // 1, -2, 0.5, 0
    while (g.b.size() < data + 128) g.u8(0);
    for (int r = 0; r < 2; ++r) {
        g.u16(r == 0 ? 0x3c00 : 0x3800);  // d = 1, then 0.5
        for (int j = 0; j < 32; ++j) g.u8(static_cast<unsigned>(static_cast<std::int8_t>(j - 16)) & 0xff);
    }
    return {std::move(g.b), data + 64};
}

template <class F>
void check_throws_lethe(F&& f, const std::string& what) {
    try {
        f();
        BOOST_ERROR("no lethe::error for " << what);
    } catch (const lethe::error&) {
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gguf_reader)

BOOST_AUTO_TEST_CASE(every_metadata_type_and_tensor_round_trips) {
    for (std::uint32_t version : {2u, 3u}) {
        const auto s = make_synthetic(version);
        const auto f = gguf_file::parse(span_of(s.bytes));
        BOOST_TEST(f.version() == version);
        BOOST_TEST(f.alignment() == 64u);
        BOOST_TEST(f.metadata().size() == 15u);
        BOOST_TEST(f.get_string("general.architecture") == "llama");
        BOOST_TEST(f.get_u64("t.u8") == 200u);
        BOOST_TEST(f.get_i64("t.i8") == -128);
        BOOST_TEST(f.get_u64("t.u16") == 65535u);
        BOOST_TEST(f.get_i64("t.i16") == -2);
        BOOST_TEST(f.get_u64("t.u32") == 4000000000u);
        BOOST_TEST(f.get_i64("t.i32") == -1);
        BOOST_TEST(f.get_f64("t.f32") == 0.15625);
        BOOST_TEST(f.get_bool("t.bool", false) == true);
        BOOST_TEST(f.get_bool("t.absent", true) == true);
        BOOST_TEST(f.get_u64("t.u64") == 0xffffffffffffffffull);
        BOOST_TEST(f.get_i64("t.i64") == -5);
        BOOST_TEST(f.get_f64("t.f64") == -2.5);
        const auto strings = f.get_string_array("t.strings");
        BOOST_TEST(strings.size() == 3u);
        BOOST_TEST(strings[2] == "\xc4\xa0t");
        const auto& nested = f.at("t.nested").as_array("t.nested");
        BOOST_TEST(nested.size() == 2u);
        BOOST_TEST(nested[0].items.at(1).as_i64("x") == -7);
        BOOST_TEST(nested[1].items.empty());
        // Typed accessors refuse what does not fit.
        check_throws_lethe([&] { (void)f.get_i64("t.u64"); }, "u64 max as i64");
        check_throws_lethe([&] { (void)f.get_u64("t.i32"); }, "negative as u64");
        check_throws_lethe([&] { (void)f.get_string("t.u8"); }, "u8 as string");
        check_throws_lethe([&] { (void)f.get_u64("missing.key"); }, "missing key");

        BOOST_TEST(f.tensors().size() == 3u);
        BOOST_TEST(f.data_offset() % 64 == 0u);
        const auto& a = f.tensor("w.f32");
        BOOST_TEST(a.rows() == 2);
        BOOST_TEST(a.row_elements() == 3);
        const auto av = f.dequantize(a);
        BOOST_TEST(av == (std::vector<float>{-2, -1, 0, 1, 2, 3}), boost::test_tools::per_element());
        BOOST_TEST(f.dequantize(f.tensor("w.f16")) == (std::vector<float>{1, -2, 0.5f, 0}),
                   boost::test_tools::per_element());
        const auto q = f.dequantize(f.tensor("w.q8"));
        for (int j = 0; j < 32; ++j) {
            BOOST_TEST(q[j] == static_cast<float>(j - 16));
            BOOST_TEST(q[32 + j] == 0.5f * static_cast<float>(j - 16));
        }
        check_throws_lethe([&] { (void)f.tensor("nope"); }, "missing tensor");
    }
}

BOOST_AUTO_TEST_CASE(every_truncation_throws) {
    const auto s = make_synthetic();
    for (std::size_t n = 0; n < s.bytes.size(); ++n) {
        // A heap block of exactly n bytes: ASan flags any read beyond it.
        std::unique_ptr<unsigned char[]> copy(new unsigned char[n == 0 ? 1 : n]);
        std::memcpy(copy.get(), s.bytes.data(), n);
        check_throws_lethe([&] { (void)gguf_file::parse({copy.get(), n}); }, "prefix of " + std::to_string(n) + " bytes");
    }
    BOOST_TEST(gguf_file::parse(span_of(s.bytes)).tensors().size() == 3u);
}

BOOST_AUTO_TEST_CASE(lying_headers_throw) {
    const auto good = make_synthetic();
    auto patched = [&](std::size_t at, std::vector<unsigned char> with) {
        auto b = good.bytes;
        std::copy(with.begin(), with.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
        return b;
    };
    auto le64 = [](std::uint64_t v) {
        std::vector<unsigned char> o(8);
        for (int k = 0; k < 8; ++k) o[k] = static_cast<unsigned char>(v >> (8 * k));
        return o;
    };
    auto expect_error = [&](const std::vector<unsigned char>& b, const std::string& what, const std::string& words) {
        try {
            (void)gguf_file::parse(span_of(b));
            BOOST_ERROR("no lethe::error for " << what);
        } catch (const lethe::error& e) {
            BOOST_TEST_MESSAGE(what << ": " << e.what());
            BOOST_CHECK_MESSAGE(std::string(e.what()).find(words) != std::string::npos,
                                what << ": message '" << e.what() << "' lacks '" << words << "'");
        }
    };
    expect_error(patched(0, {'G', 'G', 'U', 'X'}), "bad magic", "magic");
    expect_error(patched(4, {1, 0, 0, 0}), "version 1", "version 1");
    expect_error(patched(8, le64(1ull << 60)), "tensor_count 2^60", "tensor_count");
    expect_error(patched(16, le64(~0ull)), "kv_count max", "kv_count");
    expect_error(patched(16, le64(16)), "kv_count one too many", "");  // reads tensor infos as kv
    // First key length (offset 24) claims 2^62 bytes.
    expect_error(patched(24, le64(1ull << 62)), "key length 2^62", "string length");
    // The first value type (after the 20-byte key) is 77.
    expect_error(patched(24 + 8 + 20, {77, 0, 0, 0}), "value type 77", "unknown value type 77");

    // Locate fields by searching for their keys/names in the bytes.
    auto find = [&](std::string_view needle) {
        const auto it = std::search(good.bytes.begin(), good.bytes.end(), needle.begin(), needle.end());
        BOOST_REQUIRE(it != good.bytes.end());
        return static_cast<std::size_t>(it - good.bytes.begin()) + needle.size();
    };
    const std::size_t strings_arr = find("t.strings") + 4;  // past the value type: element type
    expect_error(patched(strings_arr + 4, le64(1ull << 61)), "string array count 2^61", "claims");
    expect_error(patched(strings_arr, {12, 0, 0, 0}), "array retyped to f64", "");
    const std::size_t first_str = strings_arr + 4 + 8;  // length of "a"
    expect_error(patched(first_str, le64(5000)), "array string length 5000", "string length");
    const std::size_t align_val = find("general.alignment") + 4;
    expect_error(patched(align_val, {48, 0, 0, 0}), "alignment 48", "power of two");
    expect_error(patched(align_val, {0, 0, 0, 0}), "alignment 0", "power of two");
    const std::size_t bool_val = find("t.bool") + 4;
    expect_error(patched(bool_val, {2}), "bool 2", "bool");

    const std::size_t q8_info = find("w.q8");  // n_dims, dims[2], type, offset follow
    expect_error(patched(q8_info, {5, 0, 0, 0}), "n_dims 5", "n_dims");
    expect_error(patched(q8_info, {0, 0, 0, 0}), "n_dims 0", "n_dims");
    expect_error(patched(q8_info + 4, le64(0)), "dimension 0", "dimension");
    expect_error(patched(q8_info + 4, le64(1ull << 41)), "dimension 2^41", "dimension");
    expect_error(patched(q8_info + 4, le64(31)), "row not a block multiple", "block size");
    expect_error(patched(q8_info + 4 + 8, le64(3)), "more rows than bytes", "run past");
    expect_error(patched(q8_info + 20, {99, 0, 0, 0}), "ggml type 99", "not supported");
    expect_error(patched(q8_info + 24, le64(96)), "misaligned offset", "alignment");
    expect_error(patched(q8_info + 24, le64(1ull << 63)), "offset 2^63", "run past");
    // Lengths of dims overflowing int64 when multiplied.
    {
        auto b = patched(q8_info + 4, le64(1ull << 40));
        std::copy_n(le64(1ull << 40).begin(), 8, b.begin() + static_cast<std::ptrdiff_t>(q8_info + 12));
        expect_error(b, "elements 2^80", "overflows");
    }
}

BOOST_AUTO_TEST_CASE(duplicate_key_and_deep_nesting_throw) {
    gguf_builder g;
    g.header(3, 0, 2);
    g.key("k", gguf_value_type::u8); g.u8(1);
    g.key("k", gguf_value_type::u8); g.u8(2);
    check_throws_lethe([&] { (void)gguf_file::parse(span_of(g.b)); }, "duplicate key");

    gguf_builder d;
    d.header(3, 0, 1);
    d.key("deep", gguf_value_type::array);
    for (int i = 0; i < 40; ++i) { d.u32(9); d.u64(1); }
    d.u32(0); d.u64(0);
    check_throws_lethe([&] { (void)gguf_file::parse(span_of(d.b)); }, "arrays nested 40 deep");

    gguf_builder t;  // two tensors named "w"
    t.header(3, 2, 0);
    t.tensor("w", {32}, ggml_type::f32, 0);
    t.tensor("w", {32}, ggml_type::f32, 128);
    t.pad_to(32);
    for (int i = 0; i < 64; ++i) t.f32(1.0f);
    check_throws_lethe([&] { (void)gguf_file::parse(span_of(t.b)); }, "duplicate tensor name");
}

BOOST_AUTO_TEST_CASE(open_maps_a_file) {
    const auto s = make_synthetic();
    const auto dir = std::filesystem::temp_directory_path() / ("lethe_gguf_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = dir / "small.gguf";
    {
        std::ofstream o(path, std::ios::binary);
        o.write(reinterpret_cast<const char*>(s.bytes.data()), static_cast<std::streamsize>(s.bytes.size()));
    }
    {
        const auto f = gguf_file::open(path);
        BOOST_TEST(f.file_size() == s.bytes.size());
        BOOST_TEST(f.dequantize(f.tensor("w.f16"))[1] == -2.0f);
    }
    std::filesystem::resize_file(path, 0);
    check_throws_lethe([&] { (void)gguf_file::open(path); }, "empty file");
    check_throws_lethe([&] { (void)gguf_file::open(dir / "absent.gguf"); }, "absent file");
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- block decoders ---------------------------------------------------------
//
// Each case chooses the quantised integers q[e] and the scales, packs them
// with the layout written out independently here (element e -> byte/bit), and
// checks dequantize_row against the defining formula. All values are small
// integers times powers of two, exactly representable: equality is exact.

namespace {
constexpr std::uint16_t h_half = 0x3800, h_quarter = 0x3400, h_minus_one = 0xbc00, h_two = 0x4000;

std::vector<float> decode(ggml_type t, const std::vector<unsigned char>& blocks, int n) {
    BOOST_REQUIRE_EQUAL(static_cast<index_t>(blocks.size()), ggml_row_bytes(t, n));
    std::vector<float> y(static_cast<std::size_t>(n), -999.0f);
    dequantize_row(t, blocks.data(), y.data(), n);
    return y;
}
void put16(std::vector<unsigned char>& b, std::size_t at, std::uint16_t v) { b[at] = v & 0xff; b[at + 1] = v >> 8; }

// Legacy 32-blocks: low nibble of byte j is element j, high nibble element j+16.
std::vector<unsigned char> pack_nibbles(const int* q) {
    std::vector<unsigned char> qs(16);
    for (int e = 0; e < 32; ++e) qs[e % 16] |= static_cast<unsigned char>((q[e] & 15) << (e < 16 ? 0 : 4));
    return qs;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(gguf_dequant)

BOOST_AUTO_TEST_CASE(q4_0_and_q4_1) {
    int q[32];
    for (int e = 0; e < 32; ++e) q[e] = (e * 7 + 3) % 16;
    const auto qs = pack_nibbles(q);
    std::vector<unsigned char> b0(18);
    put16(b0, 0, h_half);
    std::copy(qs.begin(), qs.end(), b0.begin() + 2);
    const auto y0 = decode(ggml_type::q4_0, b0, 32);
    std::vector<unsigned char> b1(20);
    put16(b1, 0, h_quarter);
    put16(b1, 2, h_minus_one);
    std::copy(qs.begin(), qs.end(), b1.begin() + 4);
    const auto y1 = decode(ggml_type::q4_1, b1, 32);
    for (int e = 0; e < 32; ++e) {
        BOOST_TEST(y0[e] == 0.5f * static_cast<float>(q[e] - 8));
        BOOST_TEST(y1[e] == 0.25f * static_cast<float>(q[e]) - 1.0f);
    }
}

BOOST_AUTO_TEST_CASE(q5_0_and_q5_1) {
    int q[32];
    for (int e = 0; e < 32; ++e) q[e] = (e * 11 + 5) % 32;
    const auto qs = pack_nibbles(q);
    std::uint32_t qh = 0;  // bit e = fifth bit of element e
    for (int e = 0; e < 32; ++e) qh |= static_cast<std::uint32_t>((q[e] >> 4) & 1) << e;
    std::vector<unsigned char> b0(22), b1(24);
    put16(b0, 0, h_two);
    for (int k = 0; k < 4; ++k) b0[2 + k] = static_cast<unsigned char>(qh >> (8 * k));
    std::copy(qs.begin(), qs.end(), b0.begin() + 6);
    put16(b1, 0, h_half);
    put16(b1, 2, h_two);
    for (int k = 0; k < 4; ++k) b1[4 + k] = static_cast<unsigned char>(qh >> (8 * k));
    std::copy(qs.begin(), qs.end(), b1.begin() + 8);
    const auto y0 = decode(ggml_type::q5_0, b0, 32);
    const auto y1 = decode(ggml_type::q5_1, b1, 32);
    for (int e = 0; e < 32; ++e) {
        BOOST_TEST(y0[e] == 2.0f * static_cast<float>(q[e] - 16));
        BOOST_TEST(y1[e] == 0.5f * static_cast<float>(q[e]) + 2.0f);
    }
}

BOOST_AUTO_TEST_CASE(q8_0_two_blocks) {
    std::vector<unsigned char> b(68);
    put16(b, 0, h_quarter);
    put16(b, 34, h_minus_one);
    for (int j = 0; j < 32; ++j) {
        b[2 + j] = static_cast<unsigned char>(static_cast<std::int8_t>(j * 8 - 128));
        b[36 + j] = static_cast<unsigned char>(static_cast<std::int8_t>(127 - j));
    }
    const auto y = decode(ggml_type::q8_0, b, 64);
    for (int j = 0; j < 32; ++j) {
        BOOST_TEST(y[j] == 0.25f * static_cast<float>(j * 8 - 128));
        BOOST_TEST(y[32 + j] == -static_cast<float>(127 - j));
    }
}

namespace {
// Packs eight 6-bit (scale, min) pairs into the 12 bytes of Q4_K/Q5_K.
std::vector<unsigned char> pack_k_scales(const int* sc, const int* mn) {
    std::vector<unsigned char> s(12, 0);
    for (int j = 0; j < 4; ++j) {
        s[j] = static_cast<unsigned char>(sc[j] & 63);
        s[j + 4] = static_cast<unsigned char>(mn[j] & 63);
    }
    for (int j = 4; j < 8; ++j) {
        s[j + 4] = static_cast<unsigned char>((sc[j] & 15) | ((mn[j] & 15) << 4));
        s[j - 4] |= static_cast<unsigned char>((sc[j] >> 4) << 6);
        s[j] |= static_cast<unsigned char>((mn[j] >> 4) << 6);
    }
    return s;
}
}  // namespace

BOOST_AUTO_TEST_CASE(q4_k_and_q5_k) {
    int sc[8], mn[8];
    for (int s = 0; s < 8; ++s) { sc[s] = 63 - s * 7; mn[s] = s * 9; }  // both halves of the 6-bit range
    int q[256];
    for (int e = 0; e < 256; ++e) q[e] = (e * 13 + e / 32) % 32;
    const auto scales = pack_k_scales(sc, mn);
    // Element e: sub-block s = e/32; bytes qs[32*(e/64) + e%32], low nibble for even s.
    std::vector<unsigned char> qs(128, 0), qh(32, 0);
    for (int e = 0; e < 256; ++e) {
        const int s = e / 32;
        qs[32 * (e / 64) + e % 32] |= static_cast<unsigned char>((q[e] & 15) << (s % 2 ? 4 : 0));
        qh[e % 32] |= static_cast<unsigned char>(((q[e] >> 4) & 1) << s);  // Q5_K: bit s of qh[l]
    }
    std::vector<unsigned char> b4(144), b5(176);
    put16(b4, 0, h_half);
    put16(b4, 2, h_quarter);
    std::copy(scales.begin(), scales.end(), b4.begin() + 4);
    std::copy(qs.begin(), qs.end(), b4.begin() + 16);
    put16(b5, 0, h_half);
    put16(b5, 2, h_quarter);
    std::copy(scales.begin(), scales.end(), b5.begin() + 4);
    std::copy(qh.begin(), qh.end(), b5.begin() + 16);
    std::copy(qs.begin(), qs.end(), b5.begin() + 48);
    const auto y4 = decode(ggml_type::q4_k, b4, 256);
    const auto y5 = decode(ggml_type::q5_k, b5, 256);
    for (int e = 0; e < 256; ++e) {
        const int s = e / 32;
        BOOST_TEST(y4[e] == 0.5f * static_cast<float>(sc[s] * (q[e] & 15)) - 0.25f * static_cast<float>(mn[s]));
        BOOST_TEST(y5[e] == 0.5f * static_cast<float>(sc[s] * q[e]) - 0.25f * static_cast<float>(mn[s]));
    }
}

BOOST_AUTO_TEST_CASE(q6_k) {
    int sc[16];
    for (int s = 0; s < 16; ++s) sc[s] = (s % 2 ? -1 : 1) * (s * 8 + 1);  // signed int8 scales
    int q[256];
    for (int e = 0; e < 256; ++e) q[e] = (e * 29 + 7) % 64;
    // Element e = 128*h + 32*k + l (k = 0..3): 4 low bits in ql[64h + l + 32*(k%2)]
    // (low nibble for k < 2, high for k >= 2); 2 high bits at bits 2k of qh[32h + l].
    std::vector<unsigned char> b(210, 0);
    for (int e = 0; e < 256; ++e) {
        const int h = e / 128, k = (e % 128) / 32, l = e % 32;
        b[64 * h + l + 32 * (k % 2)] |= static_cast<unsigned char>((q[e] & 15) << (k >= 2 ? 4 : 0));
        b[128 + 32 * h + l] |= static_cast<unsigned char>(((q[e] >> 4) & 3) << (2 * k));
    }
    for (int s = 0; s < 16; ++s) b[192 + s] = static_cast<unsigned char>(static_cast<std::int8_t>(sc[s]));
    put16(b, 208, h_quarter);
    const auto y = decode(ggml_type::q6_k, b, 256);
    for (int e = 0; e < 256; ++e)
        BOOST_TEST(y[e] == 0.25f * static_cast<float>(sc[e / 16] * (q[e] - 32)));  // one scale per 16 elements
}

BOOST_AUTO_TEST_CASE(plain_types_and_parallel_rows) {
    std::vector<unsigned char> f16{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c};  // 1, -2, 2^-24, inf
    const auto y = decode(ggml_type::f16, f16, 4);
    BOOST_TEST(y[0] == 1.0f);
    BOOST_TEST(y[1] == -2.0f);
    BOOST_TEST(y[2] == 5.9604644775390625e-8f);
    BOOST_TEST(std::isinf(y[3]));
    std::vector<unsigned char> bf{0x80, 0x3f, 0x40, 0xc0};  // 1.0, -3.0
    const auto z = decode(ggml_type::bf16, bf, 2);
    BOOST_TEST(z[0] == 1.0f);
    BOOST_TEST(z[1] == -3.0f);

    // 64 rows of Q8_0 x 64: the OpenMP policy writes the same floats as seq.
    const int rows = 64, cols = 64;
    std::vector<unsigned char> src(static_cast<std::size_t>(ggml_row_bytes(ggml_type::q8_0, cols) * rows));
    for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>((i * 37) % 251);
    for (std::size_t blk = 0; blk < src.size() / 34; ++blk) put16(src, blk * 34, h_half);
    std::vector<float> a(rows * cols), c(rows * cols);
    dequantize_rows(lethe::seq, ggml_type::q8_0, src.data(), static_cast<index_t>(src.size()), rows, cols, a.data());
    dequantize_rows(lethe::par.with_threads(2), ggml_type::q8_0, src.data(), static_cast<index_t>(src.size()), rows,
                    cols, c.data());
    BOOST_TEST(a == c, boost::test_tools::per_element());
    BOOST_TEST(a[cols + 3] == 0.5f * static_cast<float>(static_cast<std::int8_t>(src[34 * 2 + 2 + 3])));
    check_throws_lethe([&] {
        dequantize_rows(lethe::seq, ggml_type::q8_0, src.data(), static_cast<index_t>(src.size()) - 1, rows, cols, a.data());
    }, "source one byte short");
    check_throws_lethe([&] {
        dequantize_rows(lethe::seq, ggml_type::q4_k, src.data(), static_cast<index_t>(src.size()), 1, 100, a.data());
    }, "row not a multiple of 256");
}

BOOST_AUTO_TEST_SUITE_END()

// GGUF writer (io/gguf_writer.hpp) read back by lethe's own reader: every
// metadata type (scalars, strings, nested arrays) and tensor type bit for bit,
// alignment, Q8_0 against its dequantisation, argument errors, truncated
// output, and a write that fails half-way (RLIMIT_FSIZE) leaving neither the
// target nor a temporary behind.
#define BOOST_TEST_MODULE gguf_writer
#include <lethe/io/gguf.hpp>
#include <lethe/io/gguf_writer.hpp>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include <sys/resource.h>
#include <unistd.h>

#include "lethe_test.hpp"

using namespace lethe::io;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
    const fs::path d = fs::temp_directory_path() / ("lethe-gguf-writer-" + std::to_string(::getpid()) + "-" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

// Bit pattern of a float / double (so NaN payloads and -0 compare exactly).
std::uint32_t bits32(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
std::uint64_t bits64(double f) {
    std::uint64_t u;
    std::memcpy(&u, &f, 8);
    return u;
}

// Deep equality of two values, floats compared by bits.
bool same(const gguf_value& a, const gguf_value& b) {
    if (a.type != b.type) return false;
    switch (a.type) {
        case gguf_value_type::f32: return bits32(static_cast<float>(a.real)) == bits32(static_cast<float>(b.real));
        case gguf_value_type::f64: return bits64(a.real) == bits64(b.real);
        case gguf_value_type::string: return a.text == b.text;
        case gguf_value_type::array:
            if (a.element_type != b.element_type || a.items.size() != b.items.size()) return false;
            for (std::size_t i = 0; i < a.items.size(); ++i)
                if (!same(a.items[i], b.items[i])) return false;
            return true;
        default: return a.bits == b.bits;
    }
}

gguf_writer every_kv_type() {
    gguf_writer w;
    w.set("t.u8", gguf_u8(250));
    w.set("t.i8", gguf_i8(-120));
    w.set("t.u16", gguf_u16(65000));
    w.set("t.i16", gguf_i16(-32000));
    w.set("t.u32", gguf_u32(4000000000u));
    w.set("t.i32", gguf_i32(-2000000000));
    w.set("t.u64", gguf_u64(std::numeric_limits<std::uint64_t>::max()));
    w.set("t.i64", gguf_i64(std::numeric_limits<std::int64_t>::min()));
    w.set("t.f32", gguf_f32(-1.0e-5f));
    w.set("t.f32.nan", gguf_f32(std::numeric_limits<float>::quiet_NaN()));
    w.set("t.f32.negzero", gguf_f32(-0.0f));
    w.set("t.f64", gguf_f64(3.141592653589793238));
    w.set("t.bool.true", gguf_bool(true));
    w.set("t.bool.false", gguf_bool(false));
    w.set("t.string", gguf_string("h\xc3\xa9llo\nworld"));
    w.set("t.string.empty", gguf_string(""));
    const std::vector<std::string> strings = {"a", "", "<|im_start|>", std::string("\0zero", 5)};
    w.set("t.array.string", gguf_string_array(strings));
    const std::vector<std::int32_t> ints = {0, -1, 2147483647, -2147483647 - 1};
    w.set("t.array.i32", gguf_i32_array(ints));
    w.set("t.array.f32", gguf_array(gguf_value_type::f32, {gguf_f32(1.5f), gguf_f32(-2.25f)}));
    w.set("t.array.empty", gguf_array(gguf_value_type::u8, {}));
    w.set("t.array.nested",
          gguf_array(gguf_value_type::array, {gguf_array(gguf_value_type::u16, {gguf_u16(1), gguf_u16(2)}),
                                              gguf_array(gguf_value_type::string, {gguf_string("x")})}));
    for (auto t : {gguf_value_type::u8, gguf_value_type::i8, gguf_value_type::u16, gguf_value_type::i16,
                   gguf_value_type::u32, gguf_value_type::u64, gguf_value_type::i64, gguf_value_type::f64,
                   gguf_value_type::boolean}) {
        gguf_value one;
        one.type = t;
        one.bits = 1;
        one.real = 1.0;
        w.set("t.array.of." + std::string(gguf_value_type_name(t)), gguf_array(t, {one, one}));
    }
    return w;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_metadata_type_round_trips_bit_exactly) {
    const gguf_writer w = every_kv_type();
    const auto bytes = w.bytes();
    const auto f = gguf_file::parse(bytes, "kv");
    BOOST_TEST(f.version() == 3u);
    BOOST_TEST(f.alignment() == 32u);
    BOOST_TEST(f.tensors().empty());
    BOOST_REQUIRE(f.metadata().size() == w.metadata().size());
    for (std::size_t i = 0; i < w.metadata().size(); ++i) {
        BOOST_TEST_CONTEXT(w.metadata()[i].first) {
            BOOST_TEST(f.metadata()[i].first == w.metadata()[i].first);  // insertion order kept
            BOOST_TEST(same(f.metadata()[i].second, w.metadata()[i].second));
        }
    }
    BOOST_TEST(f.get_i64("t.i64") == std::numeric_limits<std::int64_t>::min());
    BOOST_TEST(f.get_u64("t.u64") == std::numeric_limits<std::uint64_t>::max());
    BOOST_TEST(f.get_string_array("t.array.string")[3] == std::string("\0zero", 5));
    BOOST_TEST(f.get_int_array("t.array.i32")[3] == -2147483648LL);
    BOOST_TEST(static_cast<float>(f.get_f64("t.f32")) == -1.0e-5f);
}

BOOST_AUTO_TEST_CASE(set_replaces_in_place) {
    gguf_writer w;
    w.set("a", gguf_u32(1));
    w.set("b", gguf_u32(2));
    w.set("a", gguf_string("x"));
    const auto bytes = w.bytes();
    const auto f = gguf_file::parse(bytes);
    BOOST_REQUIRE(f.metadata().size() == 2u);
    BOOST_TEST(f.metadata()[0].first == "a");
    BOOST_TEST(f.get_string("a") == "x");
}

BOOST_AUTO_TEST_CASE(every_tensor_type_round_trips) {
    std::mt19937 gen(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(64 * 3);
    for (auto& v : x) v = nd(gen);
    x[5] = 0.0f;
    x[6] = -0.0f;
    x[7] = 65504.0f;  // largest finite F16
    for (std::uint64_t align : {32u, 64u, 1u, 4096u}) {
        BOOST_TEST_CONTEXT("alignment " << align) {
            gguf_writer w;
            if (align != 32) w.set("general.alignment", gguf_u32(static_cast<std::uint32_t>(align)));
            w.add_tensor("f32", {64, 3}, x.data(), ggml_type::f32);
            w.add_tensor("f16", {64, 3}, x.data(), ggml_type::f16);
            w.add_tensor("bf16", {64, 3}, x.data(), ggml_type::bf16);
            w.add_tensor("q8_0", {64, 3}, x.data(), ggml_type::q8_0);
            w.add_tensor("vector", {5}, x.data(), ggml_type::f32);  // 20 bytes: padding follows
            w.add_tensor("f32.4d", {2, 2, 3, 4}, x.data(), ggml_type::f32);
            std::vector<unsigned char> raw(18 * 2);  // two Q4_0 blocks, as given
            for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<unsigned char>(i * 37);
            raw[1] = 0x3c;  // finite scale
            raw[19] = 0x3c;
            w.add_tensor_bytes("q4_0.raw", {64}, ggml_type::q4_0, raw);
            const auto bytes = w.bytes();
            BOOST_TEST(bytes.size() % align == 0u);
            const auto f = gguf_file::parse(bytes, "tensors");
            BOOST_TEST(f.alignment() == align);
            BOOST_TEST(f.data_offset() % align == 0u);
            BOOST_REQUIRE(f.tensors().size() == 7u);
            for (const auto& t : f.tensors()) BOOST_TEST(t.offset % align == 0u);
            const auto& t32 = f.tensor("f32");
            BOOST_TEST((t32.dims == std::vector<std::int64_t>{64, 3}));
            BOOST_TEST((t32.type == ggml_type::f32));
            BOOST_TEST(std::memcmp(t32.data, x.data(), 64 * 3 * 4) == 0);
            const auto f16 = f.dequantize(f.tensor("f16"));
            const auto bf16 = f.dequantize(f.tensor("bf16"));
            const auto q8 = f.dequantize(f.tensor("q8_0"));
            double worst_q8 = 0;
            for (std::size_t i = 0; i < x.size(); ++i) {
                BOOST_TEST(bits32(f16[i]) == bits32(half_to_float(float_to_half(x[i]))));
                BOOST_TEST(bits32(bf16[i]) == bits32(bf16_to_float(float_to_bf16(x[i]))));
                // Q8_0: within half a step d = max|x| / 127 of its block, plus
                // d's own F16 rounding (2^-11 relative) times |q| <= 127.
                float amax = 0;
                for (std::size_t j = i / 32 * 32; j < i / 32 * 32 + 32; ++j) amax = std::max(amax, std::fabs(x[j]));
                const double err = std::abs(double(q8[i]) - x[i]);
                worst_q8 = std::max(worst_q8, err / amax);
                BOOST_TEST(err <= (0.5 + 127.0 / 2048.0) * amax / 127.0 + 1e-7);
            }
            BOOST_TEST_MESSAGE("Q8_0 worst error / block max " << worst_q8);
            BOOST_TEST(std::memcmp(f.tensor("vector").data, x.data(), 20) == 0);
            BOOST_TEST(std::memcmp(f.tensor("f32.4d").data, x.data(), 48 * 4) == 0);
            BOOST_TEST((f.tensor("f32.4d").dims == std::vector<std::int64_t>{2, 2, 3, 4}));
            const auto& q4 = f.tensor("q4_0.raw");
            BOOST_TEST((q4.type == ggml_type::q4_0));
            BOOST_TEST(std::memcmp(q4.data, raw.data(), raw.size()) == 0);
        }
    }
}

BOOST_AUTO_TEST_CASE(q8_0_matches_ggml_reference_rounding) {
    // One block: max |x| = 127 gives d = 1 exactly, so q = round(x) (half away from zero).
    std::vector<float> x(32, 0.0f);
    x[0] = 127.0f;
    x[1] = 2.5f;
    x[2] = -2.5f;
    x[3] = 0.49f;
    x[4] = -127.0f;
    unsigned char b[34];
    quantize_q8_0(x.data(), 32, b);
    BOOST_TEST(lethe::io::half_to_float(static_cast<std::uint16_t>(b[0] | (b[1] << 8))) == 1.0f);
    BOOST_TEST(static_cast<int>(static_cast<std::int8_t>(b[2])) == 127);
    BOOST_TEST(static_cast<int>(static_cast<std::int8_t>(b[3])) == 3);
    BOOST_TEST(static_cast<int>(static_cast<std::int8_t>(b[4])) == -3);
    BOOST_TEST(static_cast<int>(static_cast<std::int8_t>(b[5])) == 0);
    BOOST_TEST(static_cast<int>(static_cast<std::int8_t>(b[6])) == -127);
    // All zeros: d = 0, q = 0.
    std::vector<float> z(32, 0.0f);
    quantize_q8_0(z.data(), 32, b);
    for (unsigned char c : b) BOOST_TEST(c == 0u);
}

BOOST_AUTO_TEST_CASE(bad_arguments_throw_naming_the_key_or_tensor) {
    gguf_writer w;
    LETHE_CHECK_THROWS_WITH(w.set("general.alignment", gguf_u32(48)), "power of two");
    LETHE_CHECK_THROWS_WITH(w.set("general.alignment", gguf_u64(64)), "must be u32");
    LETHE_CHECK_THROWS_WITH(w.set("mixed", gguf_array(gguf_value_type::u8, {gguf_u8(1), gguf_u16(2)})),
                            "key 'mixed': array item 1 is u16");
    const std::vector<float> x(64, 1.0f);
    LETHE_CHECK_THROWS_WITH(w.add_tensor("q", {33}, x.data(), ggml_type::q8_0), "tensor 'q'");
    LETHE_CHECK_THROWS_WITH(w.add_tensor("k", {32}, x.data(), ggml_type::q4_k), "cannot encode floats as Q4_K");
    LETHE_CHECK_THROWS_WITH(w.add_tensor_bytes("raw", {32}, ggml_type::f16, std::vector<unsigned char>(10)),
                            "tensor 'raw': 10 bytes given");
    LETHE_CHECK_THROWS_WITH(w.add_tensor("zero", {0}, x.data()), "tensor 'zero'");
    w.add_tensor("t", {4}, x.data());
    LETHE_CHECK_THROWS_WITH(w.add_tensor("t", {4}, x.data()), "duplicate tensor name 't'");
}

BOOST_AUTO_TEST_CASE(truncated_output_is_rejected_by_the_reader) {
    gguf_writer w = every_kv_type();
    std::vector<float> x(256, 0.5f);
    w.add_tensor("w", {32, 8}, x.data());
    const auto bytes = w.bytes();
    const auto dir = temp_dir("trunc");
    int cut_points = 0;
    for (std::size_t cut : {std::size_t(3), std::size_t(20), bytes.size() / 3, bytes.size() - 1}) {
        const std::vector<unsigned char> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
        const auto p = dir / ("cut" + std::to_string(cut) + ".gguf");
        std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(part.data()),
                                                 static_cast<std::streamsize>(part.size()));
        const std::string msg = lethe_test::error_of([&] { gguf_file::open(p); });
        BOOST_TEST_CONTEXT("cut at " << cut << ": " << msg) {
            BOOST_TEST(msg.find(p.string()) != std::string::npos);  // names the file
            BOOST_TEST((msg.find("truncated") != std::string::npos || msg.find("magic") != std::string::npos ||
                        msg.find("bytes") != std::string::npos));
        }
        ++cut_points;
    }
    BOOST_TEST(cut_points == 4);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(write_is_atomic_and_a_failed_write_leaves_nothing) {
    const auto dir = temp_dir("atomic");
    const auto target = dir / "model.gguf";
    gguf_writer w = every_kv_type();
    std::vector<float> x(64 * 1024, 0.25f);
    w.add_tensor("big", {64, 1024}, x.data());  // 256 KiB
    w.write(target);
    {
        const auto f = gguf_file::open(target);
        BOOST_TEST(f.tensor("big").elements == 64 * 1024);
    }
    // Unwritable location: nothing is created.
    LETHE_CHECK_THROWS_WITH(w.write(dir / "no-such-dir" / "x.gguf"), "cannot create");
    // A write that fails half-way: files may grow to 64 KiB only.
    const auto failing = dir / "failing.gguf";
    rlimit old{};
    BOOST_REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = old;
    small.rlim_cur = 64 * 1024;
    BOOST_REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    const std::string msg = lethe_test::error_of([&] { w.write(failing); });
    // And over an existing file: the old contents survive.
    const std::string msg2 = lethe_test::error_of([&] { w.write(target); });
    BOOST_REQUIRE(::setrlimit(RLIMIT_FSIZE, &old) == 0);
    std::signal(SIGXFSZ, old_handler);
    BOOST_TEST(msg.find("failed") != std::string::npos, msg);
    BOOST_TEST(msg2.find("failed") != std::string::npos, msg2);
    BOOST_TEST(!fs::exists(failing));
    int entries = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        ++entries;
        BOOST_TEST(e.path().filename() == "model.gguf", "stray file " << e.path());
    }
    BOOST_TEST(entries == 1);
    const auto f = gguf_file::open(target);  // still the complete first write
    BOOST_TEST(f.tensor("big").elements == 64 * 1024);
    fs::remove_all(dir);
}

#define BOOST_TEST_MODULE safetensors
#include <lethe/io/safetensors.hpp>

#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>

#include "lethe_test.hpp"
#include "test_safetensors_support.hpp"

namespace fs = std::filesystem;
using lethe::io::dtype;
using lethe::io::safetensors_file;
using lethe::io::safetensors_writer;
using lethe_test::error_of;

namespace {

// Random normals plus the values where conversions go wrong: signed zeros,
// infinities, NaN, F16 overflow and subnormals, BF16 rounding ties.
std::vector<float> awkward_values(std::size_t n, std::uint32_t seed) {
    auto v = lethe_test::random_normal<float>(n, seed, 10.0);
    const float specials[] = {0.0f,
                              -0.0f,
                              std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(),
                              std::numeric_limits<float>::quiet_NaN(),
                              70000.0f,                    // above F16's max: inf
                              65504.0f,                    // F16 max
                              6.0e-8f,                     // F16 subnormal
                              1e-30f,                      // F16 zero, BF16 normal
                              std::bit_cast<float>(0x3f808000u),  // BF16 tie: rounds to even
                              std::numeric_limits<float>::denorm_min(),
                              3.4e38f};
    for (std::size_t i = 0; i < std::size(specials) && i * 3 < n; ++i) v[i * 3] = specials[i];
    return v;
}

float stored_value(float x, dtype t) {
    if (t == dtype::f16) return lethe::io::half_to_float(lethe::io::float_to_half(x));
    if (t == dtype::bf16) return lethe::io::bf16_to_float(lethe::io::float_to_bf16(x));
    return x;
}

// Bitwise equality, except that any NaN equals any NaN.
bool same_float(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(safetensors)

BOOST_AUTO_TEST_CASE(round_trip_every_float_dtype_through_a_file) {
    lethe_test::scratch_dir dir("st");
    const auto a = awkward_values(6 * 7, 1), b = awkward_values(5, 2), c = awkward_values(2 * 3 * 4, 3);
    for (dtype t : {dtype::f32, dtype::f16, dtype::bf16}) {
        safetensors_writer w;
        w.add("model.layers.0.mlp.up_proj.weight", {6, 7}, a.data(), t);
        w.add("model.norm.weight", {5}, b.data(), t);
        w.add("three.d", {2, 3, 4}, c.data(), t);
        w.add("empty", {0, 4}, nullptr, t);
        w.add("scalar", std::span<const std::int64_t>{}, b.data(), t);
        const fs::path p = dir.path / "m.safetensors";
        w.write(p);
        BOOST_CHECK_EQUAL(fs::file_size(p), w.file_size());
        const safetensors_file f(p);
        BOOST_TEST_CONTEXT("dtype " << lethe::io::dtype_name(t)) {
            BOOST_CHECK_EQUAL(f.size(), 5u);
            BOOST_CHECK(f.tensor("model.norm.weight").type == t);
            BOOST_CHECK(f.tensor("three.d").shape == (lethe::io::tensor_shape{2, 3, 4}));
            BOOST_CHECK(f.tensor("scalar").shape.empty());
            BOOST_CHECK_EQUAL(f.tensor("scalar").numel(), 1);
            std::vector<float> got(a.size());
            f.load_into("model.layers.0.mlp.up_proj.weight", {6, 7}, got.data(), t);
            for (std::size_t i = 0; i < a.size(); ++i)
                BOOST_CHECK_MESSAGE(same_float(got[i], stored_value(a[i], t)), "element " << i);
            const auto gc = f.load("three.d");
            for (std::size_t i = 0; i < c.size(); ++i)
                BOOST_CHECK_MESSAGE(same_float(gc[i], stored_value(c[i], t)), "element " << i);
            const auto gs = f.load("scalar");
            BOOST_REQUIRE_EQUAL(gs.size(), 1u);
            BOOST_CHECK(same_float(gs[0], stored_value(b[0], t)));
            BOOST_CHECK(f.load("empty").empty());
        }
    }
    BOOST_CHECK((dir.entries() == std::vector<std::string>{"m.safetensors"}));  // no temporaries left behind
}

BOOST_AUTO_TEST_CASE(layout_matches_the_reference_writer) {
    const std::vector<float> x(9, 1.5f);
    safetensors_writer w;
    w.add("b", {3}, x.data(), dtype::f16);
    w.add("a", {3}, x.data(), dtype::f16);
    w.add("z", {1}, x.data(), dtype::f32);
    w.add("c", {3, 3}, x.data(), dtype::bf16);
    const std::string bytes = w.serialize();
    const auto f = safetensors_file::from_bytes(bytes);
    // Header padded with spaces so the data section starts 8-byte aligned.
    BOOST_CHECK_EQUAL(f.header_size() % 8, 0u);
    const std::string header = bytes.substr(8, f.header_size());
    BOOST_CHECK_EQUAL(header.find_last_not_of(' ') + 1 + (8 - (header.find_last_not_of(' ') + 1) % 8) % 8,
                      header.size());
    // Sorted as the reference sorts: dtype descending (F32 > BF16 > F16), then name.
    std::vector<std::string> names;
    for (const auto& t : f.tensors()) names.push_back(t.name);
    BOOST_CHECK((names == std::vector<std::string>{"z", "c", "a", "b"}));
    BOOST_CHECK_EQUAL(f.tensor("z").begin, 0u);
    // Compact JSON in data order, __metadata__ absent when empty.
    BOOST_CHECK_EQUAL(header.substr(0, 53), R"({"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})");

    w.set_order(lethe::io::tensor_order::given);
    const auto g = safetensors_file::from_bytes(w.serialize());
    names.clear();
    for (const auto& t : g.tensors()) names.push_back(t.name);
    BOOST_CHECK((names == std::vector<std::string>{"b", "a", "z", "c"}));
    // F32 "z" after two 6-byte F16 tensors sits at an unaligned offset; it still reads.
    BOOST_CHECK_EQUAL(g.tensor("z").begin, 12u);
    BOOST_CHECK_EQUAL(g.load("z").at(0), 1.5f);
}

BOOST_AUTO_TEST_CASE(metadata_and_raw_tensors) {
    const std::vector<std::int64_t> ids{3, -1, 1LL << 40, 7};
    const std::vector<float> x{1, 2};
    safetensors_writer w;
    w.set_metadata("format", "pt");
    w.set_metadata("lethe.step", "1200");
    w.set_metadata("format", "pt");  // replacing keeps one entry
    w.add_raw("token_ids", dtype::i64, std::vector<std::int64_t>{2, 2}, std::as_bytes(std::span(ids)));
    w.add("w", {2}, x.data());
    const auto f = safetensors_file::from_bytes(w.serialize());
    BOOST_CHECK_EQUAL(f.metadata().size(), 2u);
    BOOST_CHECK_EQUAL(f.metadata().at("lethe.step"), "1200");
    const auto& t = f.tensor("token_ids");
    BOOST_CHECK(t.type == dtype::i64);
    BOOST_CHECK_EQUAL(t.byte_size(), 32u);
    const auto raw = f.bytes(t);
    std::vector<std::int64_t> back(4);
    std::memcpy(back.data(), raw.data(), raw.size());
    BOOST_CHECK(back == ids);
    // An I64 tensor never silently loads as float.
    std::vector<float> dst(4);
    const std::string msg = error_of([&] { f.load_into("token_ids", {2, 2}, dst.data()); });
    BOOST_CHECK_MESSAGE(msg.find("'token_ids'") != std::string::npos && msg.find("I64") != std::string::npos, msg);
    // Raw bytes of the wrong size are refused at add time.
    safetensors_writer bad;
    const std::string m2 = error_of(
        [&] { bad.add_raw("ids", dtype::i32, std::vector<std::int64_t>{3}, std::as_bytes(std::span(ids))); });
    BOOST_CHECK_MESSAGE(m2.find("'ids'") != std::string::npos && m2.find("needs 12 bytes") != std::string::npos, m2);
    BOOST_CHECK_EQUAL(bad.size(), 0u);
}

BOOST_AUTO_TEST_CASE(load_checks_what_the_caller_expects) {
    const std::vector<float> x(12, 0.5f);
    safetensors_writer w;
    w.add("model.layers.1.self_attn.k_proj.weight", {3, 4}, x.data(), dtype::bf16);
    const auto f = safetensors_file::from_bytes(w.serialize(), "ckpt.safetensors");
    std::vector<float> dst(12);
    auto msg = error_of([&] { f.load_into("model.layers.1.self_attn.k_proj.weight", {4, 3}, dst.data()); });
    BOOST_CHECK_MESSAGE(msg.find("k_proj.weight'") != std::string::npos && msg.find("[3, 4] in the file") != std::string::npos &&
                            msg.find("expects [4, 3]") != std::string::npos && msg.find("ckpt.safetensors") != std::string::npos,
                        msg);
    msg = error_of([&] { f.load_into("model.layers.1.self_attn.k_proj.weight", {12}, dst.data()); });
    BOOST_CHECK_MESSAGE(msg.find("expects [12]") != std::string::npos, msg);
    msg = error_of([&] { f.load_into("model.layers.1.self_attn.k_proj.weight", {3, 4}, dst.data(), dtype::f32); });
    BOOST_CHECK_MESSAGE(msg.find("dtype BF16 in the file, caller expects F32") != std::string::npos, msg);
    msg = error_of([&] { f.load_into("model.layers.1.self_attn.q_proj.weight", {3, 4}, dst.data()); });
    BOOST_CHECK_MESSAGE(msg.find("no tensor named 'model.layers.1.self_attn.q_proj.weight'") != std::string::npos, msg);
    BOOST_CHECK(!f.contains("model.layers.1.self_attn.q_proj.weight"));
    // The stated expectation that matches loads.
    f.load_into("model.layers.1.self_attn.k_proj.weight", {3, 4}, dst.data(), dtype::bf16);
    BOOST_CHECK_EQUAL(dst[11], 0.5f);
}

BOOST_AUTO_TEST_CASE(strided_views_in_and_out) {
    // Write the left 3 columns of a 4x5 block, read them into the right 3
    // columns of another: strides are honoured both ways.
    std::vector<float> block(20);
    for (int i = 0; i < 20; ++i) block[i] = static_cast<float>(i);
    const lethe::index_t ext[2] = {4, 3}, str[2] = {5, 1};
    const lethe::view2<const float> left(block.data(), ext, str);
    for (dtype t : {dtype::f32, dtype::bf16}) {
        safetensors_writer w;
        w.add("left", left, t);
        const lethe::index_t ext1[1] = {4}, str1[1] = {5};
        w.add("column0", lethe::view1<const float>(block.data(), ext1, str1), t);
        const auto f = safetensors_file::from_bytes(w.serialize());
        BOOST_CHECK(f.tensor("left").shape == (lethe::io::tensor_shape{4, 3}));
        std::vector<float> out(20, -1.0f);
        f.load_into("left", lethe::view2<float>(out.data() + 2, ext, str));
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 5; ++j)
                BOOST_CHECK_EQUAL(out[i * 5 + j], j >= 2 ? static_cast<float>(i * 5 + j - 2) : -1.0f);
        const auto col = f.load("column0");
        BOOST_CHECK((col == std::vector<float>{0, 5, 10, 15}));
        // A view of the wrong extents is a shape error.
        const std::string msg = error_of([&] { f.load_into("left", lethe::make_view(out.data(), 3, 4)); });
        BOOST_CHECK_MESSAGE(msg.find("'left'") != std::string::npos && msg.find("expects [3, 4]") != std::string::npos, msg);
    }
}

BOOST_AUTO_TEST_CASE(writer_refuses_bad_entries) {
    const std::vector<float> x(4);
    safetensors_writer w;
    w.add("a", {4}, x.data());
    auto msg = error_of([&] { w.add("a", {2, 2}, x.data()); });
    BOOST_CHECK_MESSAGE(msg.find("'a'") != std::string::npos && msg.find("added twice") != std::string::npos, msg);
    msg = error_of([&] { w.add("__metadata__", {4}, x.data()); });
    BOOST_CHECK_MESSAGE(msg.find("reserved") != std::string::npos, msg);
    msg = error_of([&] { w.add("neg", {-1, 4}, x.data()); });
    BOOST_CHECK_MESSAGE(msg.find("'neg'") != std::string::npos && msg.find("negative") != std::string::npos, msg);
    msg = error_of([&] { w.add("ints", {4}, x.data(), dtype::i32); });
    BOOST_CHECK_MESSAGE(msg.find("'ints'") != std::string::npos && msg.find("I32") != std::string::npos, msg);
    msg = error_of([&] { w.add("null", {4}, nullptr); });
    BOOST_CHECK_MESSAGE(msg.find("'null'") != std::string::npos, msg);
    BOOST_CHECK_EQUAL(w.size(), 1u);
}

BOOST_AUTO_TEST_CASE(failed_write_leaves_the_old_file) {
    lethe_test::scratch_dir dir("st");
    const fs::path p = dir.path / "adapter.safetensors";
    const std::vector<float> x{1, 2, 3};
    safetensors_writer good;
    good.add("w", {3}, x.data());
    good.write(p);
    const std::string before = lethe_test::read_file(p.string());
    // Invalid UTF-8 in a name makes the header unserialisable: write throws
    // after the temporary was opened; the old file must survive untouched.
    safetensors_writer bad;
    bad.add("w\xff", {3}, x.data());
    BOOST_CHECK_THROW(bad.write(p), lethe::error);
    BOOST_CHECK_EQUAL(lethe_test::read_file(p.string()), before);
    BOOST_CHECK((dir.entries() == std::vector<std::string>{"adapter.safetensors"}));
    BOOST_CHECK_THROW(good.write(dir.path / "missing-dir" / "x.safetensors"), lethe::error);
    // A file lethe cannot open is an error naming it.
    const std::string msg = error_of([&] { safetensors_file f(dir.path / "nope.safetensors"); });
    BOOST_CHECK_MESSAGE(msg.find("nope.safetensors") != std::string::npos, msg);
    BOOST_CHECK_THROW(safetensors_file{dir.path}, lethe::error);  // a directory
}

BOOST_AUTO_TEST_CASE(moved_files_keep_their_bytes) {
    const std::vector<float> x{1, 2, 3};
    safetensors_writer w;
    w.add("w", {3}, x.data());
    auto f = safetensors_file::from_bytes(w.serialize());
    safetensors_file g = std::move(f);
    BOOST_CHECK((g.load("w") == x));
    lethe_test::scratch_dir dir("st");
    w.write(dir.path / "m.safetensors");
    safetensors_file h(dir.path / "m.safetensors");
    g = std::move(h);
    BOOST_CHECK((g.load("w") == x));
    BOOST_CHECK_EQUAL(g.label(), (dir.path / "m.safetensors").string());
}

BOOST_AUTO_TEST_CASE(fast_f16_reader_matches_the_reference_conversion) {
    // The reader's vectorisable F16 path against float16.hpp, all 65536 inputs.
    int mismatches = 0;
    for (std::uint32_t h = 0; h < 65536; ++h) {
        const auto x = static_cast<std::uint16_t>(h);
        const float fast = lethe::io::detail::half_to_float_branchless(x), ref = lethe::io::half_to_float(x);
        if (std::bit_cast<std::uint32_t>(fast) != std::bit_cast<std::uint32_t>(ref)) ++mismatches;  // NaN payloads too
    }
    BOOST_CHECK_EQUAL(mismatches, 0);
}

BOOST_AUTO_TEST_CASE(fast_f16_writer_matches_the_reference_conversion) {
    // The writer's vectorisable float -> F16 against float16.hpp on every
    // float whose low 13 bits sit on or next to a rounding boundary (all
    // exponents, both signs: 2^19 * 6 inputs), which covers ties, carries
    // into the exponent, the subnormal range, overflow, inf and NaN.
    int mismatches = 0;
    std::uint32_t first_bad = 0;
    for (std::uint32_t hi = 0; hi < (1u << 19); ++hi)
        for (std::uint32_t lo : {0x0000u, 0x0001u, 0x0fffu, 0x1000u, 0x1001u, 0x1fffu}) {
            const std::uint32_t bits = (hi << 13) | lo;
            const float x = std::bit_cast<float>(bits);
            if (lethe::io::detail::float_to_half_branchless(x) != lethe::io::float_to_half(x) && mismatches++ == 0)
                first_bad = bits;
        }
    BOOST_CHECK_MESSAGE(mismatches == 0, mismatches << " mismatches, first at float bits 0x" << std::hex << first_bad);
    // Subnormal-range results depend on low bits too: a dense sweep there.
    for (std::uint32_t bits = 0x33000000u - 64; bits < 0x38800000u + 64; bits += 97) {
        const float x = std::bit_cast<float>(bits);
        if (lethe::io::detail::float_to_half_branchless(x) != lethe::io::float_to_half(x) && mismatches++ == 0) first_bad = bits;
    }
    BOOST_CHECK_MESSAGE(mismatches == 0, mismatches << " mismatches, first at float bits 0x" << std::hex << first_bad);
}

BOOST_AUTO_TEST_SUITE_END()

#define BOOST_TEST_MODULE safetensors_corrupt
// Hostile input: truncated files, lying headers and seeded random mutations
// of a valid file must end in lethe::error naming the problem, never in a
// crash, an out-of-bounds read (run under the asan preset) or another
// exception type.
#include <lethe/io/safetensors.hpp>

#include <cstring>
#include <random>

#include "lethe_test.hpp"

using lethe::io::dtype;
using lethe::io::safetensors_file;

namespace {

// A file image: the 8-byte length of `header` (or `length_field`), the
// header, then `data_bytes` bytes of data.
std::string image(const std::string& header, std::size_t data_bytes,
                  std::optional<std::uint64_t> length_field = std::nullopt) {
    std::string s(8, '\0');
    const std::uint64_t n = length_field.value_or(header.size());
    std::memcpy(s.data(), &n, 8);
    s += header;
    s.append(data_bytes, '\x11');
    return s;
}

std::string error_of(const std::string& bytes) {
    try {
        safetensors_file::from_bytes(bytes, "case");
    } catch (const lethe::error& e) {
        return e.what();
    }
    return "<accepted>";
}

// A valid file with three dtypes and metadata, the seed of the mutations.
std::string valid_file() {
    const std::vector<float> a(6, 0.25f), b(4, -2.0f), c(3, 7.0f);
    lethe::io::safetensors_writer w;
    w.add("model.layers.0.self_attn.q_proj.weight", {2, 3}, a.data());
    w.add("model.norm.weight", {4}, b.data(), dtype::bf16);
    w.add("lm_head.weight", {3, 1}, c.data(), dtype::f16);
    w.set_metadata("format", "pt");
    return w.serialize();
}

// Touches everything a caller could touch in an accepted file: every byte
// span (ASan checks it lies in the image) and every float conversion.
double consume(const safetensors_file& f) {
    double sum = 0;
    for (const auto& t : f.tensors()) {
        const auto bytes = f.bytes(t);
        for (std::byte b : bytes) sum += static_cast<double>(std::to_integer<int>(b));
        if (lethe::io::is_float_storage(t.type)) {
            const auto v = f.load(t.name);
            for (float x : v) sum += std::isfinite(x) ? static_cast<double>(x) : 0.0;
        }
    }
    return sum;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(safetensors_corrupt)

BOOST_AUTO_TEST_CASE(lying_headers_are_named_errors) {
    const std::string ok = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    BOOST_REQUIRE_EQUAL(error_of(image(ok, 8)), "<accepted>");
    struct lie {
        std::string bytes, expect;
    };
    const std::vector<lie> lies = {
        {std::string("\x05\0\0", 3), "shorter than the 8-byte header length field"},
        {image(ok, 8, ok.size() + 9), "bytes follow it (truncated file or lying header)"},
        {image(ok, 8, 1ULL << 62), "above the limit"},
        {image(ok, 8, 0), "does not start with '{'"},
        {image("  " + ok, 8), "does not start with '{'"},
        {image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 8), "not valid JSON"},
        {image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}x)", 8), "not valid JSON"},
        {image(R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8), "tensor 'w': unknown dtype 'F33'"},
        {image(R"({"w":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", 8), "tensor 'w': missing or non-string \"dtype\""},
        {image(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8), "tensor 'w': missing"},
        {image(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8), "tensor 'w': missing or non-array \"shape\""},
        {image(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
         "tensor 'w': shape [3] of dtype F32 needs 12 bytes but data_offsets [0, 8] span 8"},
        {image(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
         "tensor 'w': shape dimension 0 is not a non-negative integer"},
        {image(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8), "shape dimension 0"},
        {image(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
         "tensor 'w': shape [4294967296,4294967296] overflows"},
        {image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8), "tensor 'w': \"data_offsets\" must be"},
        {image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8), "tensor 'w': data_offsets [8, 0] end before begin"},
        {image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4), "tensor 'w': data_offsets end 8 is past the end"},
        {image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16), "tensor 'w': begins at 8 but the data section starts at 0"},
        {image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12), "trailing bytes"},
        {image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
         "tensor 'b': data_offsets [4, 12] overlap tensor 'a'"},
        {image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
         "tensor 'b': begins at 8 but the previous tensor 'a' ends at 4"},
        {image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
         "tensor 'a' appears more than once"},
        {image(R"({"__metadata__":{"format":1},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
         "__metadata__ entry 'format' is not a string"},
        {image(R"({"__metadata__":[],"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8), "__metadata__ is not"},
        {image(R"({"w":[1,2]})", 0), "tensor 'w': entry is not a JSON object"},
        {image(R"({"w":{"dtype":"F32","shape":[[[[[[[[[[1]]]]]]]]]],"data_offsets":[0,8]}})", 8), "nests deeper"},
        {image("{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "not valid JSON"},
    };
    for (std::size_t i = 0; i < lies.size(); ++i) {
        const std::string msg = error_of(lies[i].bytes);
        BOOST_CHECK_MESSAGE(msg.find(lies[i].expect) != std::string::npos,
                            "case " << i << ": expected '" << lies[i].expect << "' in: " << msg);
        BOOST_CHECK_MESSAGE(msg.find("'case'") != std::string::npos || msg == "<accepted>", "case " << i << " names the file: " << msg);
    }
    // Padding with trailing spaces (what the reference writes) is accepted.
    BOOST_CHECK_EQUAL(error_of(image(ok + "     ", 8)), "<accepted>");
    // Zero-size tensors may share an offset and tile nothing.
    BOOST_CHECK_EQUAL(error_of(image(R"({"e":{"dtype":"F16","shape":[0],"data_offsets":[0,0]},"f":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}})", 0)),
                      "<accepted>");
}

BOOST_AUTO_TEST_CASE(every_truncation_is_an_error) {
    const std::string good = valid_file();
    BOOST_REQUIRE_GT(consume(safetensors_file::from_bytes(good)), 0.0);
    for (std::size_t len = 0; len < good.size(); ++len) {
        const std::string msg = error_of(good.substr(0, len));
        BOOST_CHECK_MESSAGE(msg != "<accepted>", "prefix of " << len << " bytes accepted");
    }
    BOOST_CHECK_MESSAGE(error_of(good + '\0').find("trailing bytes") != std::string::npos, "one extra byte");
}

BOOST_AUTO_TEST_CASE(seeded_mutations_never_crash) {
    const std::string good = valid_file();
    const std::uint64_t header_len = safetensors_file::from_bytes(good).header_size();
    std::mt19937 gen(20261128);
    const char interesting[] = "{}[]\":,0123456789-. \\eE";
    std::size_t accepted = 0, rejected = 0;
    constexpr int trials = 4000;
    for (int trial = 0; trial < trials; ++trial) {
        std::string s = good;
        const int edits = 1 + static_cast<int>(gen() % 3);
        for (int e = 0; e < edits; ++e) {
            const auto pos = [&](std::size_t n) { return n ? gen() % n : 0; };
            switch (gen() % 7) {
                case 0: s[pos(s.size())] ^= static_cast<char>(1u << (gen() % 8)); break;  // bit flip anywhere
                case 1: s[8 + pos(header_len)] = interesting[gen() % (sizeof(interesting) - 1)]; break;  // header syntax
                case 2: s[8 + pos(header_len)] = static_cast<char>('0' + gen() % 10); break;  // numbers
                case 3: {  // length field: small nudges and wild values
                    std::uint64_t n;
                    std::memcpy(&n, s.data(), 8);
                    n = (gen() % 2) ? n + (gen() % 17) - 8 : (static_cast<std::uint64_t>(gen()) << (gen() % 40));
                    std::memcpy(s.data(), &n, 8);
                    break;
                }
                case 4: s.erase(pos(s.size()), 1 + gen() % 8); break;
                case 5: s.insert(pos(s.size()), 1 + gen() % 8, static_cast<char>(gen())); break;
                default: s.resize(pos(s.size() + 1)); break;
            }
            if (s.empty()) break;
        }
        try {
            const auto f = safetensors_file::from_bytes(s, "mutant");
            consume(f);
            ++accepted;
        } catch (const lethe::error&) {
            ++rejected;
        } catch (const std::exception& ex) {
            BOOST_ERROR("trial " << trial << ": exception other than lethe::error: " << ex.what());
        }
    }
    BOOST_TEST_MESSAGE("mutations accepted " << accepted << ", rejected " << rejected);
    // Both outcomes must occur, or the mutations test nothing: most edits
    // break the header, some (a digit inside "format" metadata, a flipped
    // data byte) leave a valid file.
    BOOST_CHECK_GT(accepted, 10u);
    BOOST_CHECK_GT(rejected, static_cast<std::size_t>(trials) / 2);
}

BOOST_AUTO_TEST_SUITE_END()

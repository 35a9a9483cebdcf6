// tests/fuzz/test_fuzz_regressions.cpp - the fuzzers' inputs, replayed by the
// normal (gcc) suite: every seed of corpus/<target>/ and every reproducer of
// regressions/<target>/ runs through the same entry as the libFuzzer binary
// (fuzz_<target>.hpp), which may only reject cleanly with lethe::error. A
// reproducer with a <file>.expect beside it must be rejected with a message
// containing that text. Then hand-made hostile containers: lengths and counts
// near 2^64, offsets past the end, overlapping tensors, shape products that
// overflow.
#define BOOST_TEST_MODULE fuzz_regressions
#include <boost/test/unit_test.hpp>

#include "lethe_test.hpp"  // fixtures_dir

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "fuzz_chat_template.hpp"
#include "fuzz_gguf.hpp"
#include "fuzz_json_strings.hpp"
#include "fuzz_jsonl.hpp"
#include "fuzz_peft.hpp"
#include "fuzz_privacy_policy.hpp"
#include "fuzz_safetensors.hpp"
#include "fuzz_sampler_config.hpp"
#include "fuzz_scanner.hpp"
#include "fuzz_tokenizer.hpp"

namespace fs = std::filesystem;
using entry = int (*)(const std::uint8_t*, std::size_t);

namespace {

struct target {
    const char* name;
    entry run;
};

const target targets[] = {
    {"gguf", lethe_fuzz::fuzz_gguf},
    {"safetensors", lethe_fuzz::fuzz_safetensors},
    {"peft", lethe_fuzz::fuzz_peft},
    {"jsonl", lethe_fuzz::fuzz_jsonl},
    {"json_strings", lethe_fuzz::fuzz_json_strings},
    {"tokenizer", lethe_fuzz::fuzz_tokenizer},
    {"chat_template", lethe_fuzz::fuzz_chat_template},
    {"scanner", lethe_fuzz::fuzz_scanner},
    {"sampler_config", lethe_fuzz::fuzz_sampler_config},
    {"privacy_policy", lethe_fuzz::fuzz_privacy_policy},
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

// Runs every file of <dir> (but the .expect files) through `t`; returns how many.
int replay(const target& t, const fs::path& dir) {
    if (!fs::is_directory(dir)) return 0;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && e.path().extension() != ".expect") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        const std::string bytes = slurp(f);
        BOOST_TEST_CONTEXT(t.name << ": " << f.string()) {
            BOOST_CHECK_NO_THROW(t.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
            fs::path expect = f;
            expect += ".expect";
            if (fs::exists(expect)) {
                const std::string want = trimmed(slurp(expect));
                const std::string& got = lethe_fuzz::last_rejection();
                BOOST_TEST(got.find(want) != std::string::npos, "rejection '" << got << "' lacks '" << want << "'");
            }
        }
    }
    return static_cast<int>(files.size());
}

// ---- hand-made GGUF (v3): magic, version, tensor count, kv count, kvs, tensor infos
struct bytes {
    std::string s;
    bytes& u32(std::uint32_t v) { return raw(&v, 4); }
    bytes& u64(std::uint64_t v) { return raw(&v, 8); }
    bytes& str(std::string_view v) {
        u64(v.size());
        s.append(v);
        return *this;
    }
    bytes& raw(const void* p, std::size_t n) {
        s.append(static_cast<const char*>(p), n);
        return *this;
    }
    bytes& pad(std::size_t align) {
        while (s.size() % align) s.push_back('\0');
        return *this;
    }
};

constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

bytes gguf_header(std::uint64_t tensors, std::uint64_t kvs) {
    bytes b;
    b.raw("GGUF", 4).u32(3).u64(tensors).u64(kvs);
    return b;
}

// One f32 tensor info: name, dims, type 0 (F32), offset.
bytes& tensor_info(bytes& b, std::string_view name, std::vector<std::uint64_t> dims, std::uint64_t offset) {
    b.str(name).u32(static_cast<std::uint32_t>(dims.size()));
    for (auto d : dims) b.u64(d);
    return b.u32(0).u64(offset);
}

// Rejected cleanly (lethe::error with a message), never accepted or crashed.
void expect_rejected(entry run, const std::string& image, const char* what) {
    BOOST_TEST_CONTEXT(what) {
        BOOST_CHECK_NO_THROW(run(reinterpret_cast<const std::uint8_t*>(image.data()), image.size()));
        BOOST_TEST(!lethe_fuzz::last_rejection().empty(), "accepted: " << what);
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_seed_and_reproducer_is_handled) {
    const fs::path root = fs::path(lethe_test::fixtures_dir()).parent_path() / "fuzz";  // tests/fuzz
    for (const auto& t : targets) {
        const int seeds = replay(t, root / "corpus" / t.name);
        replay(t, root / "regressions" / t.name);
        // A target without seeds fuzzes from nothing: its corpus went missing.
        BOOST_TEST(seeds > 0, t.name << " has no seed corpus");
    }
}

BOOST_AUTO_TEST_CASE(gguf_counts_and_lengths_near_2_64) {
    const entry run = lethe_fuzz::fuzz_gguf;
    expect_rejected(run, gguf_header(u64_max, 0).s, "tensor count 2^64-1");
    expect_rejected(run, gguf_header(0, u64_max).s, "kv count 2^64-1");
    expect_rejected(run, gguf_header(0, 1).u64(u64_max).s, "key length 2^64-1");
    expect_rejected(run, gguf_header(0, 1).u64(u64_max - 7).raw("k", 1).s, "key length wrapping a pointer");
    // A string value of length 2^64-1 (type 8 = string).
    expect_rejected(run, gguf_header(0, 1).str("general.name").u32(8).u64(u64_max).s, "string value 2^64-1");
    // An array of 2^64-1 u8 (type 9 = array, element type 0 = u8).
    expect_rejected(run, gguf_header(0, 1).str("a").u32(9).u32(0).u64(u64_max).s, "array count 2^64-1");
    // An array of arrays, each claiming 2^62 strings.
    expect_rejected(run, gguf_header(0, 1).str("a").u32(9).u32(9).u64(1).u32(8).u64(1ull << 62).s,
                    "nested array count 2^62");
    expect_rejected(run, gguf_header(0, 0).s.substr(0, 20), "header cut inside the counts");
}

BOOST_AUTO_TEST_CASE(gguf_tensors_past_the_end_overlapping_or_overflowing) {
    const entry run = lethe_fuzz::fuzz_gguf;
    auto one = [](std::vector<std::uint64_t> dims, std::uint64_t offset, std::size_t data_bytes) {
        bytes b = gguf_header(1, 0);
        tensor_info(b, "t", std::move(dims), offset).pad(32);
        b.s.append(data_bytes, '\0');
        return b.s;
    };
    expect_rejected(run, one({4}, 32, 16), "offset past the end");
    expect_rejected(run, one({4}, 3, 64), "offset not aligned");
    expect_rejected(run, one({4}, u64_max - 3, 16), "offset near 2^64");
    expect_rejected(run, one({8}, 0, 16), "tensor longer than the data section");
    expect_rejected(run, one({1ull << 32, 1ull << 32}, 0, 16), "element count 2^64 (product overflows)");
    expect_rejected(run, one({1ull << 62}, 0, 16), "byte count 2^64 (elements * 4 overflows)");
    expect_rejected(run, one({0}, 0, 16), "zero dimension");
    {
        bytes b = gguf_header(1, 0);
        b.str("t").u32(0xFFFFFFFFu).s.append(64, '\0');
        expect_rejected(run, b.s, "2^32-1 dimensions");
    }
    {
        bytes b = gguf_header(2, 0);
        tensor_info(b, "a", {8}, 0);
        tensor_info(b, "b", {8}, 0).pad(32);
        b.s.append(64, '\0');
        expect_rejected(run, b.s, "two tensors on the same bytes");
    }
    {
        bytes b = gguf_header(2, 0);
        tensor_info(b, "a", {16}, 0);
        tensor_info(b, "b", {8}, 32).pad(32);
        b.s.append(128, '\0');
        expect_rejected(run, b.s, "tensor b inside tensor a");
    }
    {
        bytes b = gguf_header(2, 0);
        tensor_info(b, "a", {8}, 0);
        tensor_info(b, "a", {8}, 32).pad(32);
        b.s.append(64, '\0');
        expect_rejected(run, b.s, "duplicate tensor names");
    }
}

BOOST_AUTO_TEST_CASE(safetensors_header_lengths_offsets_and_shapes) {
    const entry run = lethe_fuzz::fuzz_safetensors;
    auto image = [](std::uint64_t header_len, std::string header, std::size_t data_bytes) {
        bytes b;
        b.u64(header_len).s += header;
        b.s.append(data_bytes, '\0');
        return b.s;
    };
    auto file = [&](const std::string& header, std::size_t data_bytes) {
        return image(header.size(), header, data_bytes);
    };
    expect_rejected(run, image(u64_max, "{}", 0), "header length 2^64-1");
    expect_rejected(run, image(u64_max - 7, "{}", 0), "header length wrapping 8 + n");
    expect_rejected(run, image(100, "{}", 0), "header length past the end");
    expect_rejected(run, file(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), "data past the end");
    expect_rejected(run, file(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})", 16), "end before begin");
    expect_rejected(run,
                    file(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,18446744073709551615]}})", 16),
                    "end offset 2^64-1");
    expect_rejected(run,
                    file(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})", 16),
                    "shape product 2^64 (overflows)");
    expect_rejected(run,
                    file(R"({"t":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,16]}})", 16),
                    "byte count 2^64 (elements * 4 overflows)");
    expect_rejected(run,
                    file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                         16),
                    "overlapping tensors");
    expect_rejected(run, file(R"({"t":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", 16), "negative dim");
}

// GGUF dequantisation throughput, next to a memcpy of the same output bytes
// in the same run (the physical floor: the decoder must at least write 4 bytes
// per element, and reads 0.56-1.06 bytes per element on top for the 4-8-bit
// types). Counters: bytes_per_second counts the float bytes written.
// Also tokenizer encode throughput on the SmolLM2 vocabulary (when the model
// file is present) next to the pre-tokenizer alone and a byte scan.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <lethe/io/gguf.hpp>
#include <lethe/io/tokenizer.hpp>

#include "bench_support.hpp"

namespace {

using lethe::index_t;
using lethe::io::ggml_type;

constexpr index_t rows = 1024, cols = 4096;  // 4M elements: 16 MiB of floats, far above L2

// Random blocks whose f16 scales are finite (0x2000-0x3bff: 2^-7 .. ~1).
std::vector<unsigned char> random_blocks(ggml_type t) {
    const auto tr = lethe::io::ggml_traits(t);
    std::vector<unsigned char> b(static_cast<std::size_t>(lethe::io::ggml_row_bytes(t, rows * cols)));
    std::mt19937 gen(3);
    for (auto& x : b) x = static_cast<unsigned char>(gen());
    const std::size_t blocks = b.size() / static_cast<std::size_t>(tr.block_bytes);
    auto put_scale = [&](std::size_t at) {
        const std::uint16_t h = static_cast<std::uint16_t>(0x2000 + gen() % 0x1bff);
        b[at] = h & 0xff;
        b[at + 1] = h >> 8;
    };
    for (std::size_t k = 0; k < blocks; ++k) {
        const std::size_t base = k * static_cast<std::size_t>(tr.block_bytes);
        switch (t) {
            case ggml_type::q6_k: put_scale(base + 208); break;
            case ggml_type::q4_k: case ggml_type::q5_k: case ggml_type::q4_1: case ggml_type::q5_1:
                put_scale(base); put_scale(base + 2); break;
            default: put_scale(base); break;
        }
    }
    return b;
}

template <class Policy>
void dequant(benchmark::State& state, ggml_type t, Policy pol) {
    const auto src = random_blocks(t);
    auto dst = lethe_bench::make_buffer<float>(static_cast<std::size_t>(rows * cols));
    for (auto _ : state) {
        lethe::io::dequantize_rows(pol, t, src.data(), static_cast<index_t>(src.size()), rows, cols, dst.get());
        benchmark::DoNotOptimize(dst.get());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * rows * cols * 4);
    state.counters["threads"] = pol.threads();
}

// Baseline: copy the same number of float bytes (read + write, like dequant's write).
template <class Policy>
void memcpy_floats(benchmark::State& state, Policy pol) {
    const auto src = lethe_bench::make_buffer<float>(static_cast<std::size_t>(rows * cols));
    auto dst = lethe_bench::make_buffer<float>(static_cast<std::size_t>(rows * cols));
    const float* s = src.get();
    float* d = dst.get();
    for (auto _ : state) {
        pol.parallel_for(rows, [=](index_t r) { std::memcpy(d + r * cols, s + r * cols, cols * sizeof(float)); });
        benchmark::DoNotOptimize(d);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * rows * cols * 4);
    state.counters["threads"] = pol.threads();
}

#define LETHE_DEQUANT_BENCH(T)                                                                                \
    BENCHMARK_CAPTURE(dequant, T##_1thread, ggml_type::T, lethe::par.with_threads(1))->UseRealTime();         \
    BENCHMARK_CAPTURE(dequant, T##_2threads, ggml_type::T, lethe::par.with_threads(2))->UseRealTime();
BENCHMARK_CAPTURE(memcpy_floats, baseline_1thread, lethe::par.with_threads(1))->UseRealTime();
BENCHMARK_CAPTURE(memcpy_floats, baseline_2threads, lethe::par.with_threads(2))->UseRealTime();
LETHE_DEQUANT_BENCH(q4_0)
LETHE_DEQUANT_BENCH(q4_1)
LETHE_DEQUANT_BENCH(q5_1)
LETHE_DEQUANT_BENCH(q8_0)
LETHE_DEQUANT_BENCH(q4_k)
LETHE_DEQUANT_BENCH(q6_k)
LETHE_DEQUANT_BENCH(f16)

// ---- tokenizer ------------------------------------------------------------------

std::filesystem::path smollm2_path() {
    if (const char* p = std::getenv("LETHE_SMOLLM2")) return p;
    const char* cache = std::getenv("LETHE_CACHE");
    const char* home = std::getenv("HOME");
    return (cache ? std::filesystem::path(cache) : std::filesystem::path(home ? home : "/root") / ".cache/lethe") /
           "SmolLM2-135M-Instruct.Q4_1.gguf";
}

const lethe::io::bpe_tokenizer* smollm2_tokenizer() {
    static const auto tok = []() -> std::unique_ptr<lethe::io::bpe_tokenizer> {
        if (!std::filesystem::exists(smollm2_path())) return nullptr;
        const auto f = lethe::io::gguf_file::open(smollm2_path());
        return std::make_unique<lethe::io::bpe_tokenizer>(lethe::io::bpe_tokenizer::from_gguf(f));
    }();
    return tok.get();
}

// ~1 MiB of mixed text: English prose, code, numbers, some non-ASCII, varied
// by a counter so no two paragraphs are the same.
const std::string& corpus() {
    static const std::string text = [] {
        std::string s;
        for (int i = 0; s.size() < (1u << 20); ++i) {
            s += "Paragraph " + std::to_string(i) + ": The quick brown fox jumps over the lazy dog, isn't it? ";
            s += "Call 555-01" + std::to_string(i % 100) + " or write to user" + std::to_string(i) + "@example.com. ";
            s += "def f_" + std::to_string(i) + "(x):\n    return x * " + std::to_string(i * 7) + "  # comment\n";
            s += "Caf\xc3\xa9 na\xc3\xafve \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80 r\xc3\xa9sum\xc3\xa9.\n\n";
        }
        return s;
    }();
    return text;
}

void tokenizer_encode(benchmark::State& state) {
    const auto* tok = smollm2_tokenizer();
    if (!tok) {
        state.SkipWithError("SmolLM2 GGUF not found: run scripts/get-smollm2");
        return;
    }
    const auto& text = corpus();
    std::vector<lethe::token_id> ids;
    ids.reserve(text.size());
    for (auto _ : state) {
        ids.clear();
        tok->encode_append(text, {}, ids);
        benchmark::DoNotOptimize(ids.data());
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
    state.counters["bytes_per_token"] = static_cast<double>(text.size()) / static_cast<double>(ids.size());
}

void tokenizer_pre_tokenize_only(benchmark::State& state) {
    const auto& text = corpus();
    std::vector<std::pair<std::size_t, std::size_t>> words;
    words.reserve(text.size() / 2);
    for (auto _ : state) {
        words.clear();
        lethe::io::pre_tokenize(lethe::io::pre_tokenizer_kind::digits_then_gpt2, text, words);
        benchmark::DoNotOptimize(words.data());
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}

// Baseline: one pass over the bytes counting spaces (the cheapest scan).
void tokenizer_baseline_byte_scan(benchmark::State& state) {
    const auto& text = corpus();
    for (auto _ : state) {
        std::size_t n = 0;
        for (char c : text) n += c == ' ';
        benchmark::DoNotOptimize(n);
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}

BENCHMARK(tokenizer_baseline_byte_scan);
BENCHMARK(tokenizer_pre_tokenize_only);
BENCHMARK(tokenizer_encode);

}  // namespace

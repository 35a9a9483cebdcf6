// GGUF dequantisation throughput, next to a memcpy of the same output bytes
// in the same run (the physical floor: the decoder must at least write 4 bytes
// per element, and reads 0.56-1.06 bytes per element on top for the 4-8-bit
// types). Counters: bytes_per_second counts the float bytes written.
// Also tokenizer encode throughput on the SmolLM2 vocabulary (when the model
// file is present) next to the pre-tokenizer alone and a byte scan.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <lethe/io/gguf.hpp>
#include <lethe/io/gguf_llama.hpp>
#include <lethe/io/gguf_matvec.hpp>
#include <lethe/io/tokenizer.hpp>
#include <lethe/model/layers.hpp>

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

// ---- decode-step products -------------------------------------------------------
// Every matrix-vector product of one SmolLM2-135M decode step (30 layers of
// q, k, v, o [576|192 x 576], gate, up [1536 x 576], down [576 x 1536], then
// the tied 49152 x 576 head): fp32 weights as lethe's model holds them,
// through the model's own decode kernel (model::kernels::linear_forward,
// its small-batch weight-streaming path), against quantized_matvec on the
// blocks as the file stores them (Q4_1 layers, Q8_0 head). Baseline in the
// same run: a plain read of the fp32 weights (538 MB, the floor of the fp32
// step); the quantised step reads 96 MB, so its floor is 5.6x lower.

struct matvec_shape {
    index_t rows, cols;
    ggml_type type;
};

const std::vector<matvec_shape>& smollm2_step_shapes() {
    static const std::vector<matvec_shape> s = [] {
        std::vector<matvec_shape> v;
        for (int l = 0; l < 30; ++l)
            for (const auto& m : {matvec_shape{576, 576, ggml_type::q4_1}, matvec_shape{192, 576, ggml_type::q4_1},
                                  matvec_shape{192, 576, ggml_type::q4_1}, matvec_shape{576, 576, ggml_type::q4_1},
                                  matvec_shape{1536, 576, ggml_type::q4_1}, matvec_shape{1536, 576, ggml_type::q4_1},
                                  matvec_shape{576, 1536, ggml_type::q4_1}})
                v.push_back(m);
        v.push_back({49152, 576, ggml_type::q8_0});
        return v;
    }();
    return s;
}

index_t step_weights() {
    index_t n = 0;
    for (const auto& m : smollm2_step_shapes()) n += m.rows * m.cols;
    return n;
}

template <class Policy>
void decode_step_fp32(benchmark::State& state, Policy pol) {
    const index_t n = step_weights();
    auto w = lethe_bench::make_buffer<float>(0);
    w.reset(static_cast<float*>(std::aligned_alloc(64, static_cast<std::size_t>(n) * 4)));
    std::fill_n(w.get(), n, 0.01f);
    const auto x = lethe_bench::make_buffer<float>(49152, 1.0f);
    auto y = lethe_bench::make_buffer<float>(49152);
    for (auto _ : state) {
        const float* p = w.get();
        for (const auto& m : smollm2_step_shapes()) {
            lethe::model::kernels::linear_forward(pol, x.get(), p, y.get(), 1, m.cols, m.rows);
            p += m.rows * m.cols;
        }
        benchmark::DoNotOptimize(y.get());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * n * 4);
    state.counters["threads"] = pol.threads();
}

template <class Policy>
void decode_step_quantized(benchmark::State& state, Policy pol) {
    std::vector<std::vector<unsigned char>> blocks;
    index_t bytes = 0;
    for (const auto& m : smollm2_step_shapes()) {
        blocks.emplace_back(static_cast<std::size_t>(m.rows * ggml_row_bytes(m.type, m.cols)), 0x55);
        bytes += static_cast<index_t>(blocks.back().size());
    }
    const auto x = lethe_bench::make_buffer<float>(49152, 1.0f);
    auto y = lethe_bench::make_buffer<float>(49152);
    std::vector<float> xsum(static_cast<std::size_t>(lethe::io::quantized_matvec_workspace(1536)));
    for (auto _ : state) {
        std::size_t k = 0;
        for (const auto& m : smollm2_step_shapes()) {
            const auto& b = blocks[k++];
            lethe::io::quantized_matvec(pol, m.type, b.data(), static_cast<index_t>(b.size()), m.rows, m.cols, x.get(),
                                        y.get(), std::span<float>(xsum));
        }
        benchmark::DoNotOptimize(y.get());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * bytes);
    state.counters["threads"] = pol.threads();
}

// The same step for a CFG pair (2 inputs): each block's quants are widened
// once and dotted with both inputs (io::quantized_dot_rows, as the model's
// quantised decode runs it), blocks of 32 rows per task.
template <class Policy>
void decode_step_quantized_pair(benchmark::State& state, Policy pol) {
    std::vector<std::vector<unsigned char>> blocks;
    index_t bytes = 0;
    for (const auto& m : smollm2_step_shapes()) {
        blocks.emplace_back(static_cast<std::size_t>(m.rows * ggml_row_bytes(m.type, m.cols)), 0x55);
        bytes += static_cast<index_t>(blocks.back().size());
    }
    const auto x = lethe_bench::make_buffer<float>(2 * 1536, 1.0f);
    auto y = lethe_bench::make_buffer<float>(2 * 49152);
    std::vector<float> xsum(2 * 1536 / 32);
    for (auto _ : state) {
        std::size_t k = 0;
        for (const auto& m : smollm2_step_shapes()) {
            const auto* b = blocks[k++].data();
            const index_t row_bytes = ggml_row_bytes(m.type, m.cols), nb = m.cols / 32;
            for (index_t r = 0; r < 2; ++r) lethe::io::quantized_block_sums(x.get() + r * m.cols, m.cols, xsum.data() + r * nb);
            const float* xp = x.get();
            const float* sp = xsum.data();
            float* yp = y.get();
            const auto t = m.type;
            const index_t rows = m.rows, cols = m.cols;
            pol.parallel_for((rows + 31) / 32, [=](index_t task) {
                const index_t j1 = (task + 1) * 32 < rows ? (task + 1) * 32 : rows;
                lethe::io::quantized_dot_rows(t, b, row_bytes, cols, xp, sp, nb, 2, task * 32, j1, yp, rows, false);
            });
        }
        benchmark::DoNotOptimize(y.get());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * bytes);
    state.counters["threads"] = pol.threads();
}

// Baseline of the quantised step: read its 96 MB once (as floats, row sums).
template <class Policy>
void decode_step_read_quantized(benchmark::State& state, Policy pol) {
    index_t bytes = 0;
    for (const auto& m : smollm2_step_shapes()) bytes += m.rows * ggml_row_bytes(m.type, m.cols);
    const index_t cols = 576, rows = bytes / 4 / cols;
    auto w = lethe_bench::make_buffer<float>(static_cast<std::size_t>(rows * cols), 0.01f);
    auto out = lethe_bench::make_buffer<float>(static_cast<std::size_t>(rows));
    for (auto _ : state) benchmark::DoNotOptimize(lethe_bench::plain_read(pol, w.get(), rows, cols, out.get()));
    state.SetBytesProcessed(state.iterations() * rows * cols * 4);
    state.counters["threads"] = pol.threads();
}

// Baseline: read the fp32 step's 538 MB once (row sums).
template <class Policy>
void decode_step_read_fp32(benchmark::State& state, Policy pol) {
    const index_t n = step_weights(), cols = 576;
    auto w = lethe_bench::make_buffer<float>(0);
    w.reset(static_cast<float*>(std::aligned_alloc(64, static_cast<std::size_t>(n) * 4)));
    std::fill_n(w.get(), n, 0.01f);
    auto out = lethe_bench::make_buffer<float>(static_cast<std::size_t>(n / cols));
    for (auto _ : state) benchmark::DoNotOptimize(lethe_bench::plain_read(pol, w.get(), n / cols, cols, out.get()));
    state.SetBytesProcessed(state.iterations() * n * 4);
    state.counters["threads"] = pol.threads();
}

BENCHMARK_CAPTURE(decode_step_read_fp32, baseline_1thread, lethe::par.with_threads(1))->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode_step_read_fp32, baseline_2threads, lethe::par.with_threads(2))->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode_step_fp32, 1thread, lethe::par.with_threads(1))->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode_step_fp32, 2threads, lethe::par.with_threads(2))->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode_step_quantized, 1thread, lethe::par.with_threads(1))->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode_step_quantized, 2threads, lethe::par.with_threads(2))->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode_step_quantized_pair, 1thread, lethe::par.with_threads(1))->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode_step_quantized_pair, 2threads, lethe::par.with_threads(2))->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode_step_read_quantized, baseline_1thread, lethe::par.with_threads(1))->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode_step_read_quantized, baseline_2threads, lethe::par.with_threads(2))->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- tokenizer ------------------------------------------------------------------

const lethe::io::bpe_tokenizer* smollm2_tokenizer() {
    static const auto tok = []() -> std::unique_ptr<lethe::io::bpe_tokenizer> {
        if (!std::filesystem::exists(lethe::io::smollm2_path())) return nullptr;
        const auto f = lethe::io::gguf_file::open(lethe::io::smollm2_path());
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

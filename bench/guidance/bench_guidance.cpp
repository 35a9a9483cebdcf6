// Guidance costs per generated token on a V = 49152 vocabulary (a SmolLM-size
// row, 192 KiB of float logits), each next to a plain read of the same rows
// in the same run (lethe_bench::plain_read, a row sum).
// Physical floor: reading 192 KiB from L2 (the row stays cache-resident
// across iterations here, as it does in a decode loop right after the LM
// head) at ~100-200 GB/s is ~1-2 us; from DRAM (~20 GB/s) ~10 us.
//   BM_guidance_plain_read_1row      baseline for the sampler
//   BM_sampler_chain/<variant>       default chain (top-k 40, top-p 0.95,
//                                    min-p 0.05, T 0.8, dist); greedy; top-k
//                                    off (top-p sorts the full row); default
//                                    + penalties over 64 tokens
//   BM_guidance_plain_read_2rows     baseline for CFG (cond + neg rows)
//   BM_cfg_combine/<space>           one request's combined row
// CFG decode cost with the reference transformer against unguided decode of
// the same model (issue 4 target <= 1.3x) belongs here too, as
// BM_decode_cfg_vs_unguided, once the transformer satisfies lethe::causal_lm:
// run generate() with and without a negative prompt on the same model.
#include "bench_support.hpp"

#include <numeric>

#include <lethe/guidance.hpp>

namespace {

using namespace lethe;
using namespace lethe::guidance;

constexpr index_t vocab = 49152;

const float* rows2() {
    static auto buf = lethe_bench::make_buffer<float>(static_cast<std::size_t>(2 * vocab));
    return buf.get();
}

void BM_guidance_plain_read_1row(benchmark::State& state) {
    float out[1];
    for (auto _ : state) {
        lethe_bench::plain_read(seq, rows2(), 1, vocab, out);
        benchmark::DoNotOptimize(out);
    }
    state.SetBytesProcessed(state.iterations() * vocab * static_cast<int64_t>(sizeof(float)));
}

void BM_guidance_plain_read_2rows(benchmark::State& state) {
    float out[2];
    for (auto _ : state) {
        lethe_bench::plain_read(seq, rows2(), 2, vocab, out);
        benchmark::DoNotOptimize(out);
    }
    state.SetBytesProcessed(state.iterations() * 2 * vocab * static_cast<int64_t>(sizeof(float)));
}

void BM_sampler_chain(benchmark::State& state) {
    const int variant = static_cast<int>(state.range(0));
    sampler_config cfg;
    if (variant == 1) cfg.params.greedy = true;
    if (variant == 2) cfg.params.top_k = 0;
    if (variant == 3) {
        cfg.params.repeat_penalty = 1.1f;
        cfg.params.frequency_penalty = 0.1f;
    }
    const auto prm = cfg.resolved();
    std::vector<token_id> hist(64);
    for (std::size_t k = 0; k < hist.size(); ++k) hist[k] = static_cast<token_id>(k * 761 % vocab);
    const std::uint64_t seed = 1, stream = 0;
    sampler_workspace ws;
    ws.resize(1, vocab);
    token_id tok = 0;
    std::uint64_t step = 0;
    for (auto _ : state) {
        sample_rows(seq, make_view(rows2(), 1, vocab), make_view(static_cast<const token_id*>(hist.data()), 1, 64),
                    make_view(&tok, 1), prm,
                    sampler_streams<host_space>{make_view(&seed, 1), make_view(&stream, 1), step++}, ws.view());
        benchmark::DoNotOptimize(tok);
    }
    state.SetBytesProcessed(state.iterations() * vocab * static_cast<int64_t>(sizeof(float)));
    static const char* names[] = {"default", "greedy", "top_k_off", "default+penalties"};
    state.SetLabel(names[variant]);
}

void BM_cfg_combine(benchmark::State& state) {
    const auto space = static_cast<cfg_space>(state.range(0));
    std::vector<float> out(vocab);
    for (auto _ : state) {
        cfg_combine_one(seq, make_view(rows2(), 1, vocab), make_view(rows2() + vocab, 1, vocab),
                        make_view(out.data(), 1, vocab), cfg_params::make(space, 3.0f));
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * 2 * vocab * static_cast<int64_t>(sizeof(float)));
    state.SetLabel(to_string(space));
}

}  // namespace

BENCHMARK(BM_guidance_plain_read_1row)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_sampler_chain)->DenseRange(0, 3)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_guidance_plain_read_2rows)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cfg_combine)
    ->Arg(static_cast<int>(cfg_space::log))
    ->Arg(static_cast<int>(cfg_space::prob_sample))
    ->Arg(static_cast<int>(cfg_space::logit))
    ->Unit(benchmark::kMicrosecond);

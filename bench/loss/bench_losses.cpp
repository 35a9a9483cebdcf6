// Losses layer benchmarks, each next to its baseline in the same run.
//
// 1. ORPO forward + backward on 4 pairs x 256 tokens x V = 49152 float logits
//    (8 x 256 x 49152 = 403 MB), reported as bytes/s over read-logits +
//    write-gradient (806 MB), next to a plain read+write of the same bytes
//    (y = 0.5 x, lethe::transform), the floor the issue names. Its normal
//    stores first read each output line (read for ownership), so it moves
//    1.2 GB: ~50-60 ms at the reference machine's ~20-25 GB/s. ORPO needs
//    the whole sequence's log-prob before any token's gradient is known, so
//    it reads the logits twice (log-sum-exp pass, gradient pass) and writes
//    the gradient once with streaming stores (no read for ownership): also
//    1.2 GB, so its ceiling is about 100% of that floor. A second baseline,
//    read+write with streaming stores (806 MB moved), is the hardware floor
//    for this traffic; against it ORPO's ceiling is 2/3. In place the floor
//    moves 806 MB and ORPO 1.2 GB (ceiling 2/3).
// 2. Fused linear ORPO at N = 2048, d = 576, V = 49152 next to one Eigen
//    GEMM of the logits' shape (H W^T, 2 N V d = 116 GFLOP) in the same run.
//    Counters: useful GFLOP/s (3 GEMMs, what the materialised path needs),
//    executed GFLOP/s (4 GEMMs), and the workspace against the materialised
//    logits (403 MB). Ceiling of the useful rate: 3/4 of the GEMM rate if
//    the four tile GEMMs ran at the whole-logits GEMM's rate; they run
//    ~10% faster (their outputs stay in cache), so ~0.8 after the softmax
//    passes. Floor: 4 x 116 GFLOP at Eigen's rate (AVX2 + FMA here: about
//    60 GFLOP/s per core, 2 x 8-wide FMA at ~3 GHz is 96 peak).
// Run with GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456
// (Eigen allocates its GEMM blocks per call; see shared/machine.md).
#include "bench_support.hpp"

#include <Eigen/Core>

#include <lethe/loss.hpp>
#include <lethe/loss/gemm_eigen.hpp>

#include <cstdint>
#include <vector>

namespace {

using lethe::index_t;

constexpr index_t pairs = 4, seq_len = 256, vocab = 49152, rows = 2 * pairs, tokens = rows * seq_len;
constexpr index_t prompt_len = 64;

struct orpo_data {
    lethe_bench::buffer<float> logits = lethe_bench::make_buffer<float>(static_cast<std::size_t>(tokens * vocab));
    lethe_bench::buffer<float> grad = lethe_bench::make_buffer<float>(static_cast<std::size_t>(tokens * vocab));
    std::vector<std::int32_t> targets = std::vector<std::int32_t>(static_cast<std::size_t>(tokens));
    std::vector<std::uint8_t> mask = std::vector<std::uint8_t>(static_cast<std::size_t>(tokens));
    orpo_data() {
        std::uint32_t s = 7;
        for (index_t n = 0; n < tokens; ++n) {
            s = s * 1664525u + 1013904223u;
            targets[static_cast<std::size_t>(n)] = static_cast<std::int32_t>((s >> 8) % vocab);
            mask[static_cast<std::size_t>(n)] = n % seq_len < prompt_len ? lethe::loss::token_kind::prompt
                                                                          : lethe::loss::token_kind::completion;
        }
    }
};

orpo_data& data() {
    static orpo_data d;
    return d;
}

template <class Policy>
void orpo_fwd_bwd(benchmark::State& state, const Policy& pol, bool in_place) {
    auto& d = data();
    const auto x = lethe::make_view(d.logits.get(), rows, seq_len, vocab);
    const auto b = lethe::loss::make_token_batch(x, lethe::make_view(d.targets.data(), rows, seq_len),
                                                 lethe::make_view(d.mask.data(), rows, seq_len));
    lethe::loss::host_loss_workspace<float> ws(tokens, rows);
    const auto g = lethe::make_view(in_place ? d.logits.get() : d.grad.get(), tokens, vocab);
    double loss = 0;
    for (auto _ : state) {
        loss = lethe::loss::orpo(pol, b, ws.view(), g, 0.1).loss;
        benchmark::DoNotOptimize(loss);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * 2 * tokens * vocab * static_cast<int64_t>(sizeof(float)));
    state.counters["threads"] = pol.threads();
}

template <class Policy>
void read_write(benchmark::State& state, const Policy& pol, bool in_place) {
    auto& d = data();
    const auto x = lethe::make_view(static_cast<const float*>(d.logits.get()), tokens, vocab);
    const auto y = lethe::make_view(in_place ? d.logits.get() : d.grad.get(), tokens, vocab);
    for (auto _ : state) {
        lethe::transform(pol, x, y, [](float v) { return 0.5f * v; });
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * 2 * tokens * vocab * static_cast<int64_t>(sizeof(float)));
    state.counters["threads"] = pol.threads();
}

#if LETHE_HAS_VECTOR_EXT
// The same read + write with streaming stores (no read for ownership of the
// output lines): what the hardware can do for this traffic, and what ORPO's
// gradient pass uses for a separate output buffer.
void read_write_streaming(benchmark::State& state) {
    auto& d = data();
    const float* x = d.logits.get();
    float* y = d.grad.get();
    constexpr index_t L = lethe::simd::lanes;
    const auto half = lethe::simd::broadcast(0.5f);
    for (auto _ : state) {
        lethe::par.parallel_for(tokens, [=](index_t i) {
            const float* xr = x + i * vocab;
            float* yr = y + i * vocab;
            for (index_t j = 0; j < vocab; j += L) lethe::simd::stream(yr + j, half * lethe::simd::load(xr + j));
            lethe::simd::stream_fence();
        });
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * 2 * tokens * vocab * static_cast<int64_t>(sizeof(float)));
    state.counters["threads"] = lethe::par.threads();
}
void BM_read_write_streaming_omp(benchmark::State& s) { read_write_streaming(s); }
#endif
void BM_read_write_floor_omp(benchmark::State& s) { read_write(s, lethe::par, false); }
void BM_orpo_fwd_bwd_omp(benchmark::State& s) { orpo_fwd_bwd(s, lethe::par, false); }
void BM_read_write_floor_in_place_omp(benchmark::State& s) { read_write(s, lethe::par, true); }
void BM_orpo_fwd_bwd_in_place_omp(benchmark::State& s) { orpo_fwd_bwd(s, lethe::par, true); }
void BM_read_write_floor_seq(benchmark::State& s) { read_write(s, lethe::seq, false); }
void BM_orpo_fwd_bwd_seq(benchmark::State& s) { orpo_fwd_bwd(s, lethe::seq, false); }

// ---------------------------------------------------------------- fused linear
constexpr index_t fl_n = 2048, fl_d = 576, fl_rows = 8, fl_len = fl_n / fl_rows;

struct linear_data {
    lethe_bench::buffer<float> h = lethe_bench::make_buffer<float>(static_cast<std::size_t>(fl_n * fl_d), 1.0f, 3);
    lethe_bench::buffer<float> w = lethe_bench::make_buffer<float>(static_cast<std::size_t>(vocab * fl_d), 0.05f, 4);
    lethe_bench::buffer<float> dh = lethe_bench::make_buffer<float>(static_cast<std::size_t>(fl_n * fl_d), 0.0f, 5);
    lethe_bench::buffer<float> dw = lethe_bench::make_buffer<float>(static_cast<std::size_t>(vocab * fl_d), 0.0f, 6);
};

linear_data& ldata() {
    static linear_data d;
    return d;
}

constexpr double gemm_flop = 2.0 * fl_n * vocab * fl_d;

void BM_eigen_gemm_logits_baseline(benchmark::State& state) {
    auto& d = ldata();
    auto z = lethe_bench::make_buffer<float>(static_cast<std::size_t>(fl_n * vocab), 0.0f);
    const lethe::loss::eigen_gemm gemm;
    for (auto _ : state) {
        gemm(lethe::par, false, true, 1.0f, lethe::make_view(static_cast<const float*>(d.h.get()), fl_n, fl_d),
             lethe::make_view(static_cast<const float*>(d.w.get()), vocab, fl_d), 0.0f,
             lethe::make_view(z.get(), fl_n, vocab));
        benchmark::ClobberMemory();
    }
    state.counters["GFLOP/s"] = benchmark::Counter(gemm_flop * static_cast<double>(state.iterations()) / 1e9,
                                                   benchmark::Counter::kIsRate);
}

void fused(benchmark::State& state, bool orpo) {
    auto& d = ldata();
    const index_t chunk = state.range(0);
    auto& od = data();  // reuse the ORPO targets/mask: same 8 x 256 layout
    const auto tt = lethe::loss::make_token_targets(lethe::make_view(od.targets.data(), fl_rows, fl_len),
                                                    lethe::make_view(od.mask.data(), fl_rows, fl_len));
    lethe::loss::host_fused_linear_workspace<float> ws(fl_n, fl_rows, chunk, vocab);
    const auto h = lethe::make_view(static_cast<const float*>(d.h.get()), fl_n, fl_d);
    const auto w = lethe::make_view(static_cast<const float*>(d.w.get()), vocab, fl_d);
    const auto dh = lethe::make_view(d.dh.get(), fl_n, fl_d);
    const auto dw = lethe::make_view(d.dw.get(), vocab, fl_d);
    double loss = 0;
    for (auto _ : state) {
        if (orpo)
            loss = lethe::loss::fused_linear_preference(lethe::par, lethe::loss::eigen_gemm{}, h, w, tt, ws.view(), dh,
                                                        dw, lethe::loss::preference_config::orpo(0.1))
                       .loss;
        else
            loss = lethe::loss::fused_linear_nll(lethe::par, lethe::loss::eigen_gemm{}, h, w, tt, ws.view(), dh, dw).loss;
        benchmark::DoNotOptimize(loss);
        benchmark::ClobberMemory();
    }
    const double it = static_cast<double>(state.iterations());
    state.counters["useful_GFLOP/s"] = benchmark::Counter(3 * gemm_flop * it / 1e9, benchmark::Counter::kIsRate);
    state.counters["executed_GFLOP/s"] =
        benchmark::Counter((orpo ? 4 : 3) * gemm_flop * it / 1e9, benchmark::Counter::kIsRate);
    state.counters["workspace_MB"] = static_cast<double>(ws.bytes()) / 1e6;
    state.counters["logits_MB"] = static_cast<double>(fl_n * vocab * sizeof(float)) / 1e6;
}
// The same linear + ORPO with the logits materialised (what PyTorch eager
// does, bench/peers/orpo_torch.py): Z = H W^T, ORPO's gradient in place,
// dH = G W, dW = G^T H. 3 GEMMs and one pass over Z; 403 MB extra memory.
void BM_materialised_linear_orpo(benchmark::State& state) {
    auto& d = ldata();
    auto& od = data();
    auto z = lethe_bench::make_buffer<float>(static_cast<std::size_t>(fl_n * vocab), 0.0f);
    const auto b = lethe::loss::make_token_batch(lethe::make_view(static_cast<const float*>(z.get()), fl_rows, fl_len, vocab),
                                                 lethe::make_view(od.targets.data(), fl_rows, fl_len),
                                                 lethe::make_view(od.mask.data(), fl_rows, fl_len));
    lethe::loss::host_loss_workspace<float> ws(fl_n, fl_rows);
    const lethe::loss::eigen_gemm gemm;
    const auto h = lethe::make_view(static_cast<const float*>(d.h.get()), fl_n, fl_d);
    const auto w = lethe::make_view(static_cast<const float*>(d.w.get()), vocab, fl_d);
    const auto zv = lethe::make_view(z.get(), fl_n, vocab);
    const auto g = lethe::make_view(static_cast<const float*>(z.get()), fl_n, vocab);
    double loss = 0;
    for (auto _ : state) {
        gemm(lethe::par, false, true, 1.0f, h, w, 0.0f, zv);
        loss = lethe::loss::orpo(lethe::par, b, ws.view(), zv, 0.1).loss;
        gemm(lethe::par, false, false, 1.0f, g, w, 0.0f, lethe::make_view(d.dh.get(), fl_n, fl_d));
        gemm(lethe::par, true, false, 1.0f, g, h, 0.0f, lethe::make_view(d.dw.get(), vocab, fl_d));
        benchmark::DoNotOptimize(loss);
        benchmark::ClobberMemory();
    }
    state.counters["useful_GFLOP/s"] =
        benchmark::Counter(3 * gemm_flop * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
    state.counters["logits_MB"] = static_cast<double>(fl_n * vocab * sizeof(float)) / 1e6;
}
void BM_fused_linear_orpo(benchmark::State& s) { fused(s, true); }
void BM_fused_linear_nll(benchmark::State& s) { fused(s, false); }

}  // namespace

BENCHMARK(BM_read_write_floor_omp)->Unit(benchmark::kMillisecond)->UseRealTime();
#if LETHE_HAS_VECTOR_EXT
BENCHMARK(BM_read_write_streaming_omp)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
BENCHMARK(BM_orpo_fwd_bwd_omp)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_read_write_floor_in_place_omp)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_orpo_fwd_bwd_in_place_omp)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_read_write_floor_seq)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_orpo_fwd_bwd_seq)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_eigen_gemm_logits_baseline)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fused_linear_orpo)->Arg(96)->Arg(120)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fused_linear_nll)->Arg(120)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_materialised_linear_orpo)->Unit(benchmark::kMillisecond)->UseRealTime();

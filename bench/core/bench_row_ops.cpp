// Row log-sum-exp over 2048 x 49152 floats (a batch of LM logits, 403 MB),
// reported in bytes/s next to a plain read of the same bytes in the same run.
// Floor: bytes / memory bandwidth (~20 GB/s read on the reference machine,
// i.e. ~20 ms for this tensor).
#include "bench_support.hpp"

namespace {

constexpr lethe::index_t rows = 2048, cols = 49152;

const float* logits() {
    static auto buf = lethe_bench::make_buffer<float>(static_cast<std::size_t>(rows * cols));
    return buf.get();
}

template <class Policy>
void run(benchmark::State& state, const Policy& pol, bool lse) {
    const float* x = logits();
    std::vector<float> out(rows);
    for (auto _ : state) {
        if (lse)
            lethe::row_logsumexp(pol, lethe::make_view(x, rows, cols), lethe::make_view(out.data(), rows));
        else
            lethe_bench::plain_read(pol, x, rows, cols, out.data());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * rows * cols * static_cast<int64_t>(sizeof(float)));
    state.counters["threads"] = pol.threads();
}

void BM_plain_read_seq(benchmark::State& s) { run(s, lethe::seq, false); }
void BM_row_logsumexp_seq(benchmark::State& s) { run(s, lethe::seq, true); }
void BM_plain_read_omp(benchmark::State& s) { run(s, lethe::par, false); }
void BM_row_logsumexp_omp(benchmark::State& s) { run(s, lethe::par, true); }

}  // namespace

BENCHMARK(BM_plain_read_seq)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_row_logsumexp_seq)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_plain_read_omp)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_row_logsumexp_omp)->Unit(benchmark::kMillisecond)->UseRealTime();

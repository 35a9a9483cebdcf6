// Benchmarks of the reference Llama: a training step on a GPT-2-small-FLOPs
// config and on a small recipe-sized config, and decode tokens/s at batch 1
// and 2. The baseline measured in the same run is the SGEMM of the build (Eigen's, or OpenBLAS's under LETHE_WITH_BLAS) on a shape
// of the training step (256 x 768 x 2048): achieved model GFLOPS are
// reported next to it (the physical floor of a training step is its matmul
// FLOPs at the GEMM rate). Decode at batch 1 is bound by reading the weights
// once per token: its floor is weight bytes / memory bandwidth.
//   OMP_NUM_THREADS=2 lethe_bench --benchmark_filter='model/(eigen_sgemm|train_step_gpt2|decode_110m)'
//       --benchmark_min_time=0.2
//
// Figures (release preset, 2026-11-28 07:04-07:20 UTC, load average 6-12 on
// the 2 vCPUs: shared with other builds, so wall times are 5-30x a quiet
// machine's and only same-run ratios count; proc_cpu_s is the whole
// process's CPU time per iteration). Details and peers: docs/model.md.
//   train step GPT-2 FLOPs B4 T64 (190 GFLOP):
//     1 thread : 8.06 s wall, 3.85 CPU-s = 49.4 GFLOP/CPU-s vs Eigen SGEMM 47.0 (ratio 1.05)
//     2 threads: 30.95 s wall (SGEMM ratio 0.40 wall, 0.60 per CPU-s);
//                llm.c train_gpt2.c same session 55 s (1.8x slower); PyTorch 323 s against
//                lethe's 35.1 s in one bench/peers/model_torch.py invocation (9.2x)
//   decode 110M, CPU ms per step on 1 thread (llama2.c run.c: 113.7 per token):
//     fp32 batch 1 54.8, batch 2 70.8 (1.29x); bf16 batch 1 39.1, batch 2 46.7 (1.19x)
//     bf16 batch 1 = 2.9x less CPU than llama2.c (target 1.5x), 3.2x its 1-thread tokens/s
#include <benchmark/benchmark.h>

#include <lethe/model.hpp>

#include <Eigen/Core>
#include <ctime>
#include <vector>

namespace {

namespace lm = lethe::model;
using lethe::index_t;
using lethe::token_id;

// 12 layers, d 768, 12 heads, SwiGLU width 2048, vocab 50257: GPT-2 small's
// matmul FLOPs per token (llm.c's train_gpt2.c reference).
lm::llama_config gpt2_flops_config() {
    lm::llama_config c;
    c.vocab = 50257;
    c.d_model = 768;
    c.n_layers = 12;
    c.n_heads = 12;
    c.n_kv_heads = 12;
    c.d_ff = 2048;
    c.max_seq = 1024;
    return c;
}
// llama2.c's 110M model (stories110M): dim 768, 12 layers, 12 heads, hidden
// 2048, vocab 32000.
lm::llama_config llama2c_110m_config() {
    auto c = gpt2_flops_config();
    c.vocab = 32000;
    c.max_seq = 1024;
    return c;
}
// The size the recipe trains many times: a few M parameters.
lm::llama_config small_config() {
    lm::llama_config c;
    c.vocab = 2048;
    c.d_model = 256;
    c.n_layers = 4;
    c.n_heads = 8;
    c.n_kv_heads = 4;
    c.d_ff = 688;
    c.max_seq = 512;
    return c;
}

// CPU seconds of the whole process (all threads). On a shared machine the
// wall time includes waiting for a core; proc_cpu_s / (wall * threads) says
// how much of the run this process actually had.
double process_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
struct process_cpu_counter {
    double start = process_cpu_seconds();
    double excluded = 0;  // CPU seconds spent while the timing was paused
    void report(benchmark::State& state) const {
        state.counters["proc_cpu_s"] =
            benchmark::Counter(process_cpu_seconds() - start - excluded, benchmark::Counter::kAvgIterations);
    }
};

void eigen_sgemm_baseline(benchmark::State& state) {
    const index_t m = 256, k = 768, n = 2048;
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> a =
        Eigen::MatrixXf::Random(m, k), b = Eigen::MatrixXf::Random(n, k), c(m, n);
    const process_cpu_counter cpu;
    for (auto _ : state) {
        c.noalias() = a * b.transpose();
        benchmark::DoNotOptimize(c.data());
    }
    cpu.report(state);
    state.counters["GFLOPS"] =
        benchmark::Counter(2.0 * double(m * k * n), benchmark::Counter::kIsIterationInvariantRate,
                           benchmark::Counter::kIs1000);
}
BENCHMARK(eigen_sgemm_baseline)->Name("model/eigen_sgemm_256x768x2048")->Unit(benchmark::kMillisecond)->UseRealTime();

void train_step(benchmark::State& state, lm::llama_config cfg, index_t B, index_t T, bool recompute = false) {
    lm::llama<float> m(cfg);
    m.init_random(1);
    m.set_recompute(recompute);
    lm::train_options o;
    o.schedule.peak = 1e-4;
    o.schedule.total_steps = 1000;
    lm::trainer<float> tr(m, o);
    std::vector<token_id> tok(std::size_t(B * T)), tgt(tok.size());
    std::vector<std::uint8_t> mask(tok.size(), 1);
    for (std::size_t i = 0; i < tok.size(); ++i) {
        tok[i] = token_id((i * 7919) % std::size_t(cfg.vocab));
        tgt[i] = token_id((i * 104729 + 1) % std::size_t(cfg.vocab));
    }
    tr.accumulate(tok, tgt, mask, B, T);  // warm-up: plans the activation block
    tr.step();
    const process_cpu_counter cpu;
    for (auto _ : state) {
        tr.accumulate(tok, tgt, mask, B, T);
        benchmark::DoNotOptimize(tr.step().loss);
    }
    cpu.report(state);
    // forward + backward = 3x the forward matmul FLOPs (attention excluded).
    const double flops = 3.0 * cfg.forward_flops_per_token() * double(B * T);
    state.counters["GFLOPS"] =
        benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
    state.counters["tokens/s"] =
        benchmark::Counter(double(B * T), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["activation_MB"] = double(m.activation_bytes()) / 1e6;
}
BENCHMARK_CAPTURE(train_step, gpt2_flops_B4_T64, gpt2_flops_config(), 4, 64)
    ->Name("model/train_step_gpt2_flops_B4_T64")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
// Per-layer recomputation: one more forward of the layers, activation_MB
// shows the memory it saves.
BENCHMARK_CAPTURE(train_step, gpt2_flops_B4_T64_recompute, gpt2_flops_config(), 4, 64, true)
    ->Name("model/recompute_train_step_gpt2_flops_B4_T64")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK_CAPTURE(train_step, small_B8_T128, small_config(), 8, 128)
    ->Name("model/train_step_small_B8_T128")->Unit(benchmark::kMillisecond)->UseRealTime();

void decode(benchmark::State& state, lm::llama_config cfg, index_t batch,
            lm::weight_storage storage = lm::weight_storage::fp32) {
    lm::llama<float> m(cfg);
    m.init_random(1);
    m.set_inference_weights(storage);
    const double weight_bytes = storage == lm::weight_storage::bf16 ? 2.0 : 4.0;
    m.set_num_slots(batch);
    std::vector<index_t> slots(static_cast<std::size_t>(batch));
    for (index_t i = 0; i < batch; ++i) slots[std::size_t(i)] = i;
    std::vector<float> logits(std::size_t(batch * cfg.vocab));
    auto lg = lethe::make_view(logits.data(), batch, cfg.vocab);
    const std::vector<token_id> prompt(16, 1);
    auto restart = [&] {
        std::vector<std::span<const token_id>> rows(static_cast<std::size_t>(batch), std::span<const token_id>(prompt));
        for (index_t i = 0; i < batch; ++i) m.reset(i);
        m.prefill(slots, rows, lg);
    };
    restart();
    std::vector<token_id> next(std::size_t(batch), 2);
    process_cpu_counter cpu;
    for (auto _ : state) {
        if (m.length(0) >= 256) {  // decode positions 16..256, as a short generation
            state.PauseTiming();
            const double c0 = process_cpu_seconds();
            restart();
            cpu.excluded += process_cpu_seconds() - c0;
            state.ResumeTiming();
        }
        m.step(slots, next, lg);
        benchmark::DoNotOptimize(logits.data());
    }
    cpu.report(state);
    state.counters["tokens/s"] =
        benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["weight_GB/s"] = benchmark::Counter(double(cfg.num_parameters()) * weight_bytes,
                                                       benchmark::Counter::kIsIterationInvariantRate,
                                                       benchmark::Counter::kIs1000);
}
BENCHMARK_CAPTURE(decode, llama2c_110m_batch1, llama2c_110m_config(), 1)
    ->Name("model/decode_110m_batch1")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(decode, llama2c_110m_batch2, llama2c_110m_config(), 2)
    ->Name("model/decode_110m_batch2")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(decode, llama2c_110m_bf16_batch1, llama2c_110m_config(), 1, lm::weight_storage::bf16)
    ->Name("model/decode_110m_bf16_batch1")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(decode, llama2c_110m_bf16_batch2, llama2c_110m_config(), 2, lm::weight_storage::bf16)
    ->Name("model/decode_110m_bf16_batch2")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(decode, small_batch1, small_config(), 1)
    ->Name("model/decode_small_batch1")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(decode, small_batch2, small_config(), 2)
    ->Name("model/decode_small_batch2")->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

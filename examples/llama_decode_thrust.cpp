// llama-decode-thrust: decode speed of the thrust Llama (model/thrust_llama.hpp)
// with random weights. As a .cpp (g++, Debian thrust) it runs on thrust's
// OpenMP system with the host GEMM, and times the CPU model (llama.hpp) on the
// same weights in the same run; llama_decode_thrust_cuda.cu compiles the same
// body with nvcc for the GPU (CUDA system, cuBLAS), where scripts/gpu-check
// runs it.
//
//   llama-decode-thrust [--config tiny|110m] [--prompt P] [--tokens N] [--train-steps K]
//                       [--lora R] [--recompute 0|1]
//
// Then K training steps (forward + backward, B = 4, T = 64) with their
// achieved GFLOPS (3x the forward matmul FLOPs per token); with --lora R the
// same steps with rank-R adapters on all seven linear layers (the paper's
// alpha = 2R, dropout 0.01; base frozen) next to the full-parameter step and,
// in the OMP build, the CPU model's LoRA step; with --recompute 1 the
// full-parameter step again with per-layer recomputation and both training
// blocks' sizes.
// Floor: batch-1 decode reads every weight once per token, so no step can
// be faster than one pass over the parameter block; the program measures
// that pass (a copy of the block, read + write, halved) in the same run.
#include <lethe/backend/thrust.hpp>
#include <lethe/model/random.hpp>
#include <lethe/model/thrust_llama.hpp>
#if defined(__CUDACC__)
#include <lethe/backend/cublas.hpp>
#else
#include <lethe/model/llama.hpp>
#include <lethe/model/thrust_host_gemm.hpp>
#endif

#include <thrust/copy.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

namespace {

namespace lm = lethe::model;
using lethe::index_t;
using lethe::token_id;

const char* usage =
    "usage: llama-decode-thrust [--config tiny|110m] [--prompt P] [--tokens N] [--train-steps K]\n"
    "                           [--lora R] [--recompute 0|1]\n"
    "  Random-weight Llama on thrust memory (OpenMP system with the host GEMM, or CUDA\n"
    "  with cuBLAS when built from the .cu): prefill a P-token prompt, then greedy-decode\n"
    "  N tokens at batch 1 and at batch 2 (the CFG case). Prints tokens/s next to the\n"
    "  time one read of the weights takes (the batch-1 floor), measured in the same run.\n"
    "  Then K training steps (forward + backward, batch 4 x 64 tokens) with GFLOPS.\n"
    "  --lora R: also K LoRA training steps (rank R on all linear layers, alpha 2R,\n"
    "  dropout 0.01, base frozen); --recompute 1: also K steps with per-layer\n"
    "  recomputation, with the training block's size.\n"
    "  Defaults: --config 110m --prompt 32 --tokens 32 --train-steps 2 (0 skips training)\n"
    "  --lora 0 --recompute 0\n";

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "llama-decode-thrust: %s\n%s", msg.c_str(), usage);
    std::exit(2);
}

// llama2.c's 110M configuration (dim 768, 12 layers, 12 heads, hidden 2048,
// vocab 32000, shared classifier), or a tiny one for a smoke run.
lm::llama_config config_named(const std::string& name) {
    lm::llama_config c;
    if (name == "tiny") {
        c.vocab = 512, c.d_model = 128, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.d_ff = 344, c.max_seq = 256;
    } else if (name == "110m") {
        c.vocab = 32000, c.d_model = 768, c.n_layers = 12, c.n_heads = 12, c.n_kv_heads = 12, c.d_ff = 2048,
        c.max_seq = 1024, c.tied_embeddings = true;
    } else {
        die("--config must be tiny or 110m, got '" + name + "'");
    }
    return c;
}

auto make_model(const lm::llama_config& c) {
#if defined(__CUDACC__)
    return lm::thrust_llama(c, lethe::thrust_cuda(), lethe::cublas_gemm());
#else
    return lm::thrust_llama(c, lethe::thrust_omp(), lm::thrust_host_gemm{});
#endif
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

token_id argmax(const std::vector<float>& row, index_t offset, index_t n) {
    const auto* p = row.data() + offset;
    return token_id(std::max_element(p, p + n) - p);
}

// Prefills `prompt` into `rows` slots, then decodes `steps` greedy tokens per
// slot; returns the tokens of slot 0 and the prefill / decode seconds.
template <class M>
std::vector<token_id> decode(M& m, const std::vector<token_id>& prompt, index_t rows, index_t steps,
                             double& prefill_s, double& decode_s) {
    const index_t V = m.vocab_size();
    std::vector<index_t> slots(static_cast<std::size_t>(rows));
    std::vector<std::span<const token_id>> spans(static_cast<std::size_t>(rows), std::span<const token_id>(prompt));
    for (index_t r = 0; r < rows; ++r) {
        slots[std::size_t(r)] = r;
        m.reset(r);
    }
    std::vector<float> logits(static_cast<std::size_t>(rows * V));
    auto t0 = std::chrono::steady_clock::now();
    m.prefill(slots, spans, lethe::make_view(logits.data(), rows, V));
    prefill_s = seconds_since(t0);
    std::vector<token_id> next(static_cast<std::size_t>(rows)), out;
    t0 = std::chrono::steady_clock::now();
    for (index_t s = 0; s < steps; ++s) {
        for (index_t r = 0; r < rows; ++r) next[std::size_t(r)] = argmax(logits, r * V, V);
        out.push_back(next[0]);
        m.step(slots, next, lethe::make_view(logits.data(), rows, V));
    }
    decode_s = seconds_since(t0);
    return out;
}

// Seconds per training step (forward + backward) over `steps` steps after
// one warm-up; d(loss)/d(logits) is a fixed small block (the loss itself
// is the loss layer's business, not timed here).
template <class M, class DL>
double train_step_seconds(M& m, const std::vector<token_id>& toks, index_t B, index_t T, const DL& dlogits,
                          long steps) {
    auto run = [&] {
        m.forward(toks, B, T);
        m.backward(dlogits);
    };
    run();
    const auto t0 = std::chrono::steady_clock::now();
    for (long s = 0; s < steps; ++s) run();
    return seconds_since(t0) / double(steps);
}

}  // namespace

int main(int argc, char** argv) {
    std::string config = "110m";
    long prompt_len = 32, tokens = 32, train_steps = 2, lora_rank = 0, recompute = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(usage, stdout);
            return 0;
        }
        if (i + 1 >= argc) die("missing value after '" + a + "'");
        const std::string v = argv[++i];
        if (a == "--config") {
            config = v;
            continue;
        }
        char* end = nullptr;
        const long x = std::strtol(v.c_str(), &end, 10);
        const bool zero_ok = a == "--train-steps" || a == "--lora" || a == "--recompute";
        if (end == v.c_str() || *end != '\0' || x < (zero_ok ? 0 : 1) || x > 100000)
            die(a + " expects a " + (zero_ok ? "non-negative" : "positive") + " integer, got '" + v + "'");
        if (a == "--prompt") prompt_len = x;
        else if (a == "--tokens") tokens = x;
        else if (a == "--train-steps") train_steps = x;
        else if (a == "--lora") lora_rank = x;
        else if (a == "--recompute") recompute = x;
        else die("unknown argument '" + a + "'");
        if (a == "--recompute" && x > 1) die("--recompute expects 0 or 1, got '" + v + "'");
    }
    const lm::llama_config cfg = config_named(config);
    if (prompt_len + tokens > cfg.max_seq)
        die("--prompt + --tokens (" + std::to_string(prompt_len + tokens) + ") exceeds the context of " +
            std::to_string(cfg.max_seq));
    try {
        // Uniform weights from the counter-based generator: any seed-stable
        // values do for timing, and they are cheap for 110M parameters.
        const lm::llama_layout shape(cfg);
        lm::named_tensors<float> host(std::make_shared<const lm::parameter_layout>(shape.layout));
        for (index_t t = 0; t < index_t(shape.layout.tensors().size()); ++t) {
            const auto& info = shape.layout[t];
            float* p = host.ptr(t);
            for (index_t i = 0; i < info.size(); ++i)
                p[i] = info.is_vector ? 1.0f
                                      : float(0.07 * (lm::uniform_open(lm::hash_counter(1, std::uint64_t(t), std::uint64_t(i))) - 0.5));
        }
        auto m = make_model(cfg);
        m.load_parameters(host);
        m.set_num_slots(2);
        std::vector<token_id> prompt(static_cast<std::size_t>(prompt_len));
        for (index_t i = 0; i < prompt_len; ++i) prompt[std::size_t(i)] = token_id((i * 7919 + 13) % cfg.vocab);

        // The floor: one pass over the parameter block (copy = read + write).
        auto& block = m.parameter_block();
        std::remove_reference_t<decltype(block)> scratch(block.size());
        thrust::copy(block.begin(), block.end(), scratch.begin());  // warm-up
        double copy_s = 1e30;
        for (int rep = 0; rep < 3; ++rep) {
            const auto t0 = std::chrono::steady_clock::now();
            thrust::copy(block.begin(), block.end(), scratch.begin());
            copy_s = std::min(copy_s, seconds_since(t0));
        }
        const double read_ms = copy_s / 2 * 1e3, mb = double(block.size()) * 4 / 1e6;

        double p1 = 0, d1 = 0, p2 = 0, d2 = 0;
        decode(m, prompt, 1, 2, p1, d1);  // warm-up (allocations, cuBLAS init)
        const auto toks1 = decode(m, prompt, 1, tokens, p1, d1);
        const auto toks2 = decode(m, prompt, 2, tokens, p2, d2);
        std::printf("llama-decode-thrust (%s, %s): %.1f M parameters (%.0f MB fp32), prompt %ld, %ld new tokens\n",
                    LETHE_DEVICE_COMPILER ? "CUDA + cuBLAS" : "thrust OMP + host GEMM", config.c_str(),
                    double(cfg.num_parameters()) / 1e6, mb, prompt_len, tokens);
        std::printf("  weight read (floor, same run)   %8.3f ms per pass  (%.1f GB/s)\n", read_ms,
                    mb / 1e3 / (read_ms / 1e3));
        std::printf("  prefill, batch 1                %8.1f tokens/s\n", double(prompt_len) / p1);
        std::printf("  decode, batch 1                 %8.1f tokens/s  (%.3f ms/token = %.2fx the floor)\n",
                    double(tokens) / d1, d1 / double(tokens) * 1e3, d1 / double(tokens) * 1e3 / read_ms);
        std::printf("  decode, batch 2 (CFG)           %8.1f steps/s   (step time %.2fx batch 1)\n",
                    double(tokens) / d2, d2 / d1);
#if !defined(__CUDACC__)
        // The CPU model on the same weights, same run.
        lm::llama<float> cpu(cfg);
        cpu.params().storage() = host.storage();
        cpu.set_num_slots(2);
        double cp = 0, cd = 0;
        decode(cpu, prompt, 1, 2, cp, cd);
        const auto cpu_toks = decode(cpu, prompt, 1, tokens, cp, cd);
        std::printf("  CPU model (llama.hpp): prefill  %8.1f tokens/s  (thrust OMP / CPU time %.2fx)\n",
                    double(prompt_len) / cp, p1 / cp);
        std::printf("  CPU model (llama.hpp): decode   %8.1f tokens/s  (thrust OMP / CPU time %.2fx)\n",
                    double(tokens) / cd, d1 / cd);
        if (cpu_toks != toks1) {
            std::fprintf(stderr, "llama-decode-thrust: the CPU model decoded other tokens\n");
            return 1;
        }
#else
        // thrust_cuda() waits for every kernel (thrust::cuda::par); the same
        // model on par_nosync shows what those waits cost. Ordering still
        // holds: kernels, cuBLAS and the copies share the default stream.
        auto fast = lm::thrust_llama(cfg, lethe::make_thrust_policy<lethe::device_space>(thrust::cuda::par_nosync),
                                     lethe::cublas_gemm());
        fast.load_parameters(host);
        fast.set_num_slots(2);
        double fp = 0, fd = 0;
        decode(fast, prompt, 1, 2, fp, fd);
        const auto fast_toks = decode(fast, prompt, 1, tokens, fp, fd);
        std::printf("  decode, batch 1, par_nosync     %8.1f tokens/s  (time %.2fx the synchronising policy)\n",
                    double(tokens) / fd, fd / d1);
        if (fast_toks != toks1) {
            std::fprintf(stderr, "llama-decode-thrust: par_nosync decoded other tokens\n");
            return 1;
        }
#endif
        if (train_steps > 0) {
            const index_t B = 4, T = 64, N = B * T, V = cfg.vocab;
            std::vector<token_id> batch(static_cast<std::size_t>(N));
            for (index_t i = 0; i < N; ++i) batch[std::size_t(i)] = token_id((i * 31 + 7) % V);
            const std::vector<float> dl_host(static_cast<std::size_t>(N * V), 1e-6f);
            typename decltype(m)::template vector<float> dl(dl_host.begin(), dl_host.end());
            using space = typename decltype(m)::space;
            const lethe::strided_view<const float, 2, space> dlv(thrust::raw_pointer_cast(dl.data()), N, V);
            m.zero_grad();
            const double ts = train_step_seconds(m, batch, B, T, dlv, train_steps);
            const double flops = 3.0 * cfg.forward_flops_per_token() * double(N);
            std::printf("  training step, B=4 T=64          %8.1f ms/step (%.1f GFLOPS)\n", ts * 1e3, flops / ts / 1e9);
#if !defined(__CUDACC__)
            lm::llama<float> cpu(cfg);
            cpu.params().storage() = host.storage();
            cpu.zero_grad();
            const double cs = train_step_seconds(cpu, batch, B, T, lethe::view2<const float>(dl_host.data(), N, V), train_steps);
            std::printf("  CPU model training step           %8.1f ms/step (%.1f GFLOPS; thrust OMP / CPU time %.2fx)\n",
                        cs * 1e3, flops / cs / 1e9, ts / cs);
#endif
            if (recompute) {
                const double block_mb = double(m.activation_bytes()) / 1e6;
                m.set_recompute(true);
                const double rs = train_step_seconds(m, batch, B, T, dlv, train_steps);
                std::printf("  training step, recomputation     %8.1f ms/step (%.2fx the stored step; training block "
                            "%.0f -> %.0f MB)\n",
                            rs * 1e3, rs / ts, block_mb, double(m.activation_bytes()) / 1e6);
                m.set_recompute(false);
            }
            if (lora_rank > 0) {
                // The paper's adapters: all linear layers, alpha = 2r, dropout 0.01.
                lm::lora_config lc;
                lc.rank = lora_rank;
                lc.alpha = 2.0 * double(lora_rank);
                lc.dropout = 0.01;
                m.enable_lora(lc, 7);
                const double ls = train_step_seconds(m, batch, B, T, dlv, train_steps);
                std::printf("  LoRA step (r=%ld, all linear)     %8.1f ms/step (%.2fx the full-parameter step; "
                            "%.2f M adapter parameters)\n",
                            lora_rank, ls * 1e3, ls / ts, double(m.lora_parameter_block().size()) / 1e6);
#if !defined(__CUDACC__)
                lm::llama<float> cpu_lora(cfg);
                cpu_lora.params().storage() = host.storage();
                cpu_lora.enable_lora(lc, 7);
                cpu_lora.zero_grad();
                const double cl = train_step_seconds(cpu_lora, batch, B, T,
                                                     lethe::view2<const float>(dl_host.data(), N, V), train_steps);
                std::printf("  CPU model LoRA step               %8.1f ms/step (thrust OMP / CPU time %.2fx)\n",
                            cl * 1e3, ls / cl);
#endif
                m.disable_lora();
            }
        }
        if (toks1 != toks2) {
            std::fprintf(stderr, "llama-decode-thrust: batch-2 tokens differ from batch-1 tokens\n");
            return 1;
        }
        std::printf("  check: batch-2 rows decode the batch-1 tokens%s\n",
                    LETHE_DEVICE_COMPILER ? "" : "; the CPU model decodes the same tokens");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "llama-decode-thrust: %s\n", e.what());
        return 1;
    }
    return 0;
}

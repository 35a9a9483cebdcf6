// bench/parallel/data_parallel.cpp - data-parallel scaling of lethe's two
// training stages over MPI, on a model big enough that compute dominates.
//
//   mpirun -np 2 --oversubscribe build/release/bench/lethe-data-parallel   (2 ranks x 1 thread)
//   build/release/bench/lethe-data-parallel --threads 2                   (1 rank x 2 threads)
//   bench/run-data-parallel BUILD_DIR                                     (both, and the ratio)
//
// Each run trains the same global batches (ORPO: 4 pairs per step with LoRA
// r 16 on all 7 projections; the fine-tune: 8 documents per step, every
// weight trained) and prints one JSON line per stage: seconds per step,
// tokens/s summed over ranks, and the bytes each step all-reduces (the
// trained gradient block, float32) against the step's FLOPs. Timings are
// taken by rank 0 after a barrier-like all-reduce, 2 warm-up steps excluded.
#include <lethe/parallel/mpi.hpp>
#include <lethe/recipe.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace lethe;

namespace {

model::llama_config bench_config() {
    model::llama_config c;
    c.vocab = 259;  // byte tokenizer
    c.d_model = 256;
    c.n_layers = 4;
    c.n_heads = 8;
    c.n_kv_heads = 4;
    c.d_ff = 768;
    c.max_seq = 256;
    return c;
}

// A text of n bytes from a fixed seed (the content does not matter here).
std::string filler(std::size_t n, unsigned seed) {
    static const char* words[] = {"the ", "model ", "forgets ", "what ", "it ", "must ", "not ", "say ", "and ",
                                  "keeps ", "everything ", "else ", "it ", "knew ", "before "};
    std::string s;
    unsigned x = seed * 2654435761u + 7;
    while (s.size() < n) {
        x = x * 1664525u + 1013904223u;
        s += words[(x >> 16) % 15];
    }
    s.resize(n);
    return s;
}

struct timing {
    double seconds = 0;
    long long steps = 0, tokens = 0;
};

}  // namespace

int main(int argc, char** argv) {
    parallel::mpi_session session(argc, argv);
    parallel::mpi_communicator world;
    int threads = 1, steps = 8;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--threads") threads = std::atoi(argv[i + 1]);
        else if (a == "--steps") steps = std::atoi(argv[i + 1]);
    }
    if (threads < 1 || steps < 3) {
        std::fprintf(stderr, "usage: lethe-data-parallel [--threads N] [--steps N>=3]\n");
        return 2;
    }
    const auto cfg = bench_config();
    eval::byte_tokenizer tok;
    constexpr int warmup = 2;

    // CFG-aware ORPO with LoRA: 4 pairs per step, rows of about 200 tokens.
    {
        std::vector<privacy::pair_sample> pairs;
        for (int i = 0; i < 4 * (steps + warmup); ++i)
        {
            privacy::pair_sample p;
            p.prompt = filler(120, unsigned(i));
            p.chosen = filler(80, unsigned(1000 + i));
            p.rejected = filler(80, unsigned(2000 + i));
            pairs.push_back(std::move(p));
        }
        recipe::cfg_orpo_options o;
        o.epochs = 1;
        o.batch = 4;
        o.lr = 1e-4;
        o.lora = {16, 32.0, 0.0};
        o.comm = &world;
        model::llama<float> m(cfg, par.with_threads(threads));
        m.init_random(1);
        timing t;
        std::chrono::steady_clock::time_point t0;
        recipe::orpo_checkpointing ck;
        ck.after_step = [&](std::int64_t s) {
            double sync = 0;
            world.allreduce_sum(std::span<double>(&sync, 1));  // every rank done with step s
            if (s == warmup) t0 = std::chrono::steady_clock::now();
        };
        const auto curve = recipe::train_cfg_orpo(m, tok, std::span<const privacy::pair_sample>(pairs), o, {}, ck);
        t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        t.steps = static_cast<long long>(curve.loss.size()) - warmup;
        const long long grad_bytes = static_cast<long long>(m.lora()->grads.size()) * 4;
        // Training FLOPs ~ 6 x trained-path parameters x tokens (forward 2, backward 4).
        const double flops_per_step = 6.0 * double(m.params().size()) * (double(curve.tokens) / double(curve.loss.size()));
        if (world.is_root())
            std::printf("{\"stage\": \"orpo-lora\", \"ranks\": %d, \"threads_per_rank\": %d, \"steps\": %lld, "
                        "\"seconds_per_step\": %.4f, \"tokens_per_second\": %.1f, \"allreduce_bytes_per_step\": %lld, "
                        "\"flops_per_step\": %.3e}\n",
                        world.size(), threads, t.steps, t.seconds / double(t.steps),
                        double(curve.tokens) / double(curve.loss.size()) * double(t.steps) / t.seconds, grad_bytes,
                        flops_per_step);
    }

    // The fine-tune, every weight trained: 8 documents of 200 bytes per step.
    {
        std::vector<std::string> docs;
        for (int i = 0; i < 8 * (steps + warmup); ++i) docs.push_back(filler(200, unsigned(5000 + i)));
        recipe::lm_training_options o;
        o.epochs = 1;
        o.batch = 8;
        o.lr = 1e-4;
        o.comm = &world;
        model::llama<float> m(cfg, par.with_threads(threads));
        m.init_random(2);
        std::chrono::steady_clock::time_point t0;
        long long seen = 0;
        auto progress = [&](const recipe::progress_event& e) {
            if (e.step == warmup) t0 = std::chrono::steady_clock::now();
            seen = e.step;
        };
        const auto curve = recipe::train_language_model(m, tok, std::span<const std::string>(docs), o, progress);
        if (world.is_root()) {
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            const long long n = seen - warmup;
            const long long grad_bytes = static_cast<long long>(m.grads().size()) * 4;
            const double tokens_per_step = double(curve.tokens) / double(curve.loss.size());
            std::printf("{\"stage\": \"fine-tune\", \"ranks\": %d, \"threads_per_rank\": %d, \"steps\": %lld, "
                        "\"seconds_per_step\": %.4f, \"tokens_per_second\": %.1f, \"allreduce_bytes_per_step\": %lld, "
                        "\"flops_per_step\": %.3e}\n",
                        world.size(), threads, n, secs / double(n), tokens_per_step * double(n) / secs, grad_bytes,
                        6.0 * double(m.params().size()) * tokens_per_step);
        }
    }
    return 0;
}

// unlearn-demo: the unlearning recipe of arXiv 2412.06846 in miniature, end
// to end on one machine. Trains a small Llama on a synthetic world's scrubbed
// support dialogs and utility material ("base"), fine-tunes it on the dialogs
// with their real personal data ("leaky"), then runs every variant of the
// paper's Table 1 (subtraction, CFG-aware ORPO with LoRA, CFG in log and
// probability space) and measures each with the challenge's attack, the PII
// count, utility accuracy and perplexity.
//   unlearn-demo [--out DIR] [--seed N] [--tiny | --smoke] [--threads N] [--quiet]
#include <lethe/recipe.hpp>
#include <lethe/recipe/experiment.hpp>
#include <lethe/recipe/report.hpp>

#include <cstdio>
#include <cstdlib>
#if defined(_OPENMP)
#include <omp.h>
#endif
#include <string>

namespace {

const char* const usage =
    "usage: unlearn-demo [--out DIR] [--seed N] [--tiny | --smoke] [--threads N] [--quiet]\n"
    "\n"
    "Trains a small transformer on a seeded synthetic world, makes it leak personal\n"
    "data, unlearns it with the four stages of arXiv 2412.06846 and prints the\n"
    "paper's Table 1 in miniature (attack success rate, PII count, utility accuracy,\n"
    "perplexity).\n"
    "\n"
    "  --out DIR     where metrics.json, report.md and the SVG plots go (default lethe-out/)\n"
    "  --seed N      seed of the world, the weights and the training order (default 1)\n"
    "  --tiny        the small configuration the test suite runs\n"
    "  --smoke       a seconds-long run through every stage (its numbers mean nothing)\n"
    "  --threads N   OpenMP threads (default 1: the demo's model is too small to gain from more)\n"
    "  --quiet       no per-step progress, only stage lines and the table\n";

bool parse_number(const char* s, long long& out) {
    char* end = nullptr;
    out = std::strtoll(s, &end, 10);
    return end && *end == '\0' && end != s;
}

}  // namespace

int main(int argc, char** argv) {
    std::string out = "lethe-out";
    // One thread by default: with d = 64 each layer's work is smaller than a
    // thread team's synchronisation (the base stage took 20 s on 1 thread and
    // 159 s on 2 on the loaded build machine).
    long long seed = 1, threads = 1;
    bool tiny = false, smoke = false, quiet = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(usage, stdout);
            return 0;
        } else if (a == "--tiny") {
            tiny = true;
        } else if (a == "--smoke") {
            smoke = true;
        } else if (a == "--quiet") {
            quiet = true;
        } else if ((a == "--out" || a == "--seed" || a == "--threads") && i + 1 < argc) {
            const char* v = argv[++i];
            if (a == "--out") {
                out = v;
                if (out.empty()) {
                    std::fprintf(stderr, "unlearn-demo: --out needs a directory name\n");
                    return 2;
                }
            } else if (a == "--seed" && (!parse_number(v, seed) || seed < 0)) {
                std::fprintf(stderr, "unlearn-demo: --seed '%s' is not a non-negative integer\n", v);
                return 2;
            } else if (a == "--threads" && (!parse_number(v, threads) || threads < 1 || threads > 1024)) {
                std::fprintf(stderr, "unlearn-demo: --threads '%s' is not an integer in [1, 1024]\n", v);
                return 2;
            }
        } else if (a == "--out" || a == "--seed" || a == "--threads") {
            std::fprintf(stderr, "unlearn-demo: %s needs a value (try --help)\n", a.c_str());
            return 2;
        } else {
            std::fprintf(stderr, "unlearn-demo: unknown argument '%s' (try --help)\n", a.c_str());
            return 2;
        }
    }

    auto cfg = smoke  ? lethe::recipe::experiment_config::smoke()
               : tiny ? lethe::recipe::experiment_config::tiny()
                      : lethe::recipe::experiment_config::full();
    cfg.seed = static_cast<std::uint64_t>(seed);
    cfg.threads = static_cast<int>(threads);
#if defined(_OPENMP)
    // Eigen's products inside the model follow OpenMP's thread count too.
    if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
#endif
    std::printf("unlearn-demo: %s configuration, seed %llu, model %lld parameters (d=%lld, layers=%lld)\n",
                smoke ? "smoke" : tiny ? "tiny" : "full", static_cast<unsigned long long>(cfg.seed),
                static_cast<long long>(cfg.model.num_parameters()), static_cast<long long>(cfg.model.d_model),
                static_cast<long long>(cfg.model.n_layers));
    std::fflush(stdout);

    std::string last_stage;
    double last_print = -1;
    auto progress = [&](const lethe::recipe::progress_event& e) {
        const bool first = e.stage != last_stage, last = e.step == e.total_steps;
        if (first) last_print = -1;
        last_stage = e.stage;
        if (quiet && !last) return;
        if (!first && !last && e.elapsed_seconds - last_print < 2.0) return;
        last_print = e.elapsed_seconds;
        std::printf("  [%-9s] step %5lld/%-5lld loss %8.4f  lr %.2e  %8.0f tok/s  elapsed %5.1fs  eta %5.1fs\n",
                    e.stage.c_str(), static_cast<long long>(e.step), static_cast<long long>(e.total_steps), e.loss,
                    e.lr, e.tokens_per_second, e.elapsed_seconds, e.eta_seconds);
        std::fflush(stdout);
    };
    auto status = [&](const std::string& s) {
        std::printf("  %s\n", s.c_str());
        std::fflush(stdout);
    };
    try {
        const auto res = lethe::recipe::run_experiment(cfg, progress, status);
        std::fputs(lethe::recipe::format_table(res).c_str(), stdout);
        const auto files = lethe::recipe::write_outputs(res, out);
        std::printf("wrote");
        for (const auto& f : files) std::printf(" %s", f.c_str());
        std::printf("\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unlearn-demo: %s\n", e.what());
        return 1;
    }
    return 0;
}

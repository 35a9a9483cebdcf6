// orpo-eigen: one ORPO training step's loss and gradients with Eigen
// matrices, both ways a trainer can call lethe: on materialised logits
// [2P*T, V] (dlogits written in place), and fused with the output layer
// (H [N, d], W [V, d] -> loss, dH, dW without the logits). Random data; the
// two paths print the same loss and TRL metrics.
//
//   orpo-eigen [--pairs P] [--len T] [--vocab V] [--dim d] [--beta B]
//              [--chunk C] [--threads N]
#include <lethe/backend/eigen.hpp>
#include <lethe/loss.hpp>
#include <lethe/loss/gemm_eigen.hpp>

#include <Eigen/Core>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

const char* usage =
    "usage: orpo-eigen [--pairs P] [--len T] [--vocab V] [--dim d] [--beta B] [--chunk C] [--threads N]\n"
    "  One ORPO step on random data with Eigen matrices: materialised logits and\n"
    "  the fused linear path, printing the loss and TRL's metrics for both.\n"
    "  Defaults: --pairs 2 --len 64 --vocab 4096 --dim 128 --beta 0.1 --chunk 64 --threads 0 (all)\n";

struct options {
    long pairs = 2, len = 64, vocab = 4096, dim = 128, chunk = 64, threads = 0;
    double beta = 0.1;
};

// Strict number parsing: the whole argument must be a number in range.
bool parse(const char* s, double lo, double hi, double& out) {
    char* end = nullptr;
    out = std::strtod(s, &end);
    return end && *end == '\0' && end != s && out >= lo && out <= hi;
}

options parse_args(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(usage, stdout);
            std::exit(0);
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "orpo-eigen: %s needs a value (or unknown argument)\n%s", a.c_str(), usage);
            std::exit(2);
        }
        double v = 0;
        const char* val = argv[++i];
        struct spec { const char* name; long* target; double lo, hi; };
        const spec ints[] = {{"--pairs", &o.pairs, 1, 1024}, {"--len", &o.len, 2, 65536}, {"--vocab", &o.vocab, 2, 1 << 20},
                             {"--dim", &o.dim, 1, 65536},    {"--chunk", &o.chunk, 1, 1 << 20}, {"--threads", &o.threads, 0, 1024}};
        bool known = false;
        for (const auto& s : ints)
            if (a == s.name) {
                known = true;
                if (!parse(val, s.lo, s.hi, v) || v != static_cast<long>(v)) {
                    std::fprintf(stderr, "orpo-eigen: %s expects an integer in [%g, %g], got '%s'\n", s.name, s.lo, s.hi, val);
                    std::exit(2);
                }
                *s.target = static_cast<long>(v);
            }
        if (a == "--beta") {
            known = true;
            if (!parse(val, 1e-12, 1e6, v)) {
                std::fprintf(stderr, "orpo-eigen: --beta expects a number > 0, got '%s'\n", val);
                std::exit(2);
            }
            o.beta = v;
        }
        if (!known) {
            std::fprintf(stderr, "orpo-eigen: unknown argument '%s'\n%s", a.c_str(), usage);
            std::exit(2);
        }
    }
    return o;
}

void print(const char* what, const lethe::loss::preference_result& r) {
    std::printf("%s: loss %.6f\n", what, r.loss);
    for (const auto& [name, value] : r.metrics.named()) std::printf("  %-20s %.6f\n", name.c_str(), value);
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse_args(argc, argv);
    namespace loss = lethe::loss;
    const lethe::index_t rows = 2 * o.pairs, n = rows * o.len;
    const auto pol = lethe::par.with_threads(static_cast<int>(o.threads));

    // Random last hidden states and output matrix; targets; token kinds:
    // the first quarter of each row is prompt, the rest completion.
    std::mt19937 gen(42);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    mat h(n, o.dim), w(o.vocab, o.dim);
    for (float& x : h.reshaped()) x = nd(gen);
    for (float& x : w.reshaped()) x = nd(gen) / std::sqrt(static_cast<float>(o.dim));
    std::vector<std::int32_t> targets(static_cast<std::size_t>(n));
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(n));
    for (lethe::index_t i = 0; i < n; ++i) {
        targets[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(gen() % static_cast<unsigned>(o.vocab));
        mask[static_cast<std::size_t>(i)] = i % o.len < o.len / 4 ? loss::token_kind::prompt : loss::token_kind::completion;
    }
    const auto cfg = loss::preference_config::orpo(o.beta);
    try {
        // 1. Materialised: logits = H W^T, ORPO with the gradient in place.
        mat logits = h * w.transpose();
        loss::host_loss_workspace<float> ws(n, rows);
        const auto batch = loss::make_token_batch(lethe::make_view(logits.data(), rows, o.len, o.vocab),
                                                  lethe::make_view(targets.data(), rows, o.len),
                                                  lethe::make_view(mask.data(), rows, o.len));
        const auto r1 = loss::preference_loss(pol, batch, ws.view(), lethe::view_of(logits), cfg);
        mat dh1 = logits * w;  // logits now hold dL/dlogits
        print("materialised", r1);

        // 2. Fused: never holds more than `chunk` rows of logits.
        loss::host_fused_linear_workspace<float> fws(n, rows, o.chunk, o.vocab);
        mat dh(n, o.dim), dw(o.vocab, o.dim);
        const auto tt = loss::make_token_targets(lethe::make_view(targets.data(), rows, o.len),
                                                 lethe::make_view(mask.data(), rows, o.len));
        const auto r2 = loss::fused_linear_preference(pol, loss::eigen_gemm{}, lethe::view_of(h), lethe::view_of(w), tt,
                                                      fws.view(), lethe::view_of(dh), lethe::view_of(dw), cfg);
        print("fused linear", r2);
        std::printf("max |dH fused - dH materialised| = %.3g (of max |dH| %.3g)\n", (dh - dh1).cwiseAbs().maxCoeff(),
                    dh1.cwiseAbs().maxCoeff());
        std::printf("fused workspace %.1f MB vs materialised logits %.1f MB\n", fws.bytes() / 1e6,
                    static_cast<double>(n * o.vocab * sizeof(float)) / 1e6);
    } catch (const lethe::error& e) {
        std::fprintf(stderr, "orpo-eigen: %s\n", e.what());
        return 1;
    }
    return 0;
}

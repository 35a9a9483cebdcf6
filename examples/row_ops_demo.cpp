// row_ops_demo: the core in five lines per backend. Computes per-row
// log-sum-exp and log-softmax of a batch of logits held in Eigen and xtensor
// containers, sequentially and with OpenMP, and shows they agree.
//   row-ops-demo [--rows N] [--vocab V]
#include <lethe/core.hpp>
#include <lethe/backend/eigen.hpp>
#include <lethe/backend/xtensor.hpp>

#include <xtensor/xtensor.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

int main(int argc, char** argv) {
    long rows = 8, vocab = 49152;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::puts("usage: row-ops-demo [--rows N] [--vocab V]\n"
                      "Per-row log-sum-exp of random logits on Eigen and xtensor containers,\n"
                      "with the sequential and OpenMP policies; prints the rows and the timing.");
            return 0;
        }
        if ((a == "--rows" || a == "--vocab") && i + 1 < argc) {
            (a == "--rows" ? rows : vocab) = std::stol(argv[++i]);
        } else {
            std::fprintf(stderr, "row-ops-demo: unknown argument '%s' (try --help)\n", a.c_str());
            return 2;
        }
    }
    if (rows <= 0 || vocab <= 0) {
        std::fprintf(stderr, "row-ops-demo: --rows and --vocab must be positive\n");
        return 2;
    }
    std::mt19937 gen(1);
    std::normal_distribution<float> d(0.f, 3.f);
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> logits(rows, vocab);
    for (long i = 0; i < logits.size(); ++i) logits.data()[i] = d(gen);
    xt::xtensor<float, 2> xlogits = xt::zeros<float>({static_cast<std::size_t>(rows), static_cast<std::size_t>(vocab)});
    std::memcpy(xlogits.data(), logits.data(), sizeof(float) * static_cast<std::size_t>(logits.size()));

    Eigen::VectorXf lse_eigen(rows);
    xt::xtensor<float, 1> lse_xt = xt::zeros<float>({static_cast<std::size_t>(rows)});
    const auto t0 = std::chrono::steady_clock::now();
    lethe::row_logsumexp(lethe::par, lethe::view_of(std::as_const(logits)), lethe::view_of(lse_eigen));
    const auto t1 = std::chrono::steady_clock::now();
    lethe::row_logsumexp(lethe::seq, lethe::view_of(std::as_const(xlogits)), lethe::view_of(lse_xt));

    std::printf("row log-sum-exp of %ld x %ld logits (Eigen + OpenMP in %.2f ms)\n", rows, vocab,
                std::chrono::duration<double, std::milli>(t1 - t0).count());
    std::printf("%6s %14s %14s\n", "row", "Eigen/omp", "xtensor/seq");
    for (long i = 0; i < rows; ++i) std::printf("%6ld %14.6f %14.6f\n", i, lse_eigen(i), lse_xt(i));
    float worst = 0;
    for (long i = 0; i < rows; ++i) worst = std::max(worst, std::abs(lse_eigen(i) - lse_xt(i)));
    std::printf("max difference between backends: %g\n", worst);
    return worst == 0.0f ? 0 : 1;
}

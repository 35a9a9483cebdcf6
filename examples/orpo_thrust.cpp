// orpo-thrust: ORPO forward + backward on thrust::device_vector memory. As a
// .cpp (g++, Debian thrust) it runs on thrust's OpenMP system; the same body
// is compiled by nvcc from orpo_thrust_cuda.cu and runs on the GPU. It checks
// the device result against lethe::seq on the host and prints both.
//
//   orpo-thrust [--pairs P] [--len T] [--vocab V] [--beta B]
#include <lethe/backend/thrust.hpp>
#include <lethe/loss.hpp>

#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace {

const char* usage =
    "usage: orpo-thrust [--pairs P] [--len T] [--vocab V] [--beta B]\n"
    "  ORPO loss and dlogits on thrust device memory (OpenMP system, or CUDA when built\n"
    "  from the .cu), compared with the host path. Defaults: --pairs 4 --len 128\n"
    "  --vocab 8192 --beta 0.1\n";

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "orpo-thrust: %s\n%s", msg.c_str(), usage);
    std::exit(2);
}

auto device_policy() {
#if defined(__CUDACC__)
    return lethe::thrust_cuda();
#else
    return lethe::thrust_omp();
#endif
}

}  // namespace

int main(int argc, char** argv) {
    namespace loss = lethe::loss;
    long pairs = 4, len = 128, vocab = 8192;
    double beta = 0.1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(usage, stdout);
            return 0;
        }
        if (i + 1 >= argc) die("missing value after '" + a + "'");
        const char* v = argv[++i];
        char* end = nullptr;
        if (a == "--beta") {
            beta = std::strtod(v, &end);
            if (!end || *end != '\0' || !(beta > 0)) die(std::string("--beta expects a number > 0, got '") + v + "'");
            continue;
        }
        const long x = std::strtol(v, &end, 10);
        if (!end || *end != '\0' || end == v || x < 1 || x > (1 << 20))
            die(a + " expects a positive integer, got '" + v + "'");
        if (a == "--pairs") pairs = x;
        else if (a == "--len" && x >= 2) len = x;
        else if (a == "--vocab" && x >= 2) vocab = x;
        else die("unknown argument or value out of range: '" + a + " " + v + "'");
    }
    const lethe::index_t rows = 2 * pairs, n = rows * len, V = vocab;
    std::mt19937 gen(3);
    std::normal_distribution<float> nd(0.0f, 2.0f);
    std::vector<float> x(static_cast<std::size_t>(n * V));
    for (float& e : x) e = nd(gen);
    std::vector<std::int32_t> t(static_cast<std::size_t>(n));
    std::vector<std::uint8_t> m(static_cast<std::size_t>(n));
    for (lethe::index_t i = 0; i < n; ++i) {
        t[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(gen() % static_cast<unsigned>(V));
        m[static_cast<std::size_t>(i)] = i % len < len / 4 ? loss::token_kind::prompt : loss::token_kind::completion;
    }
    try {
        // Host reference.
        loss::host_loss_workspace<float> hws(n, rows);
        std::vector<float> hg(x.size());
        const auto hb = loss::make_token_batch(lethe::make_view(x.data(), rows, len, V), lethe::make_view(t.data(), rows, len),
                                               lethe::make_view(m.data(), rows, len));
        const auto href = loss::orpo(lethe::seq, hb, hws.view(), lethe::make_view(hg.data(), n, V), beta);

        // Device: logits, targets, mask, workspace all in thrust device vectors.
        thrust::device_vector<float> dx(x.begin(), x.end());
        thrust::device_vector<std::int32_t> dt(t.begin(), t.end());
        thrust::device_vector<std::uint8_t> dm(m.begin(), m.end());
        thrust::device_vector<float> tok(2 * n), seqs(6 * rows);
        using S = lethe::thrust_device_space;
        auto tv = lethe::view_of(tok);
        auto sv = lethe::view_of(seqs);
        loss::loss_workspace<float, S> w{tv.slice_rows(0, n), tv.slice_rows(n, n),
                                         {sv.slice_rows(0, rows), sv.slice_rows(rows, rows), sv.slice_rows(2 * rows, rows),
                                          sv.slice_rows(3 * rows, rows)},
                                         sv.slice_rows(4 * rows, rows), sv.slice_rows(5 * rows, rows)};
        const auto db = loss::make_token_batch(lethe::view_of(std::as_const(dx), rows, len, V),
                                               lethe::view_of(std::as_const(dt), rows, len),
                                               lethe::view_of(std::as_const(dm), rows, len));
        // In place: the device logits become dL/dlogits.
        const auto dres = loss::orpo(device_policy(), db, w, lethe::view_of(dx, n, V), beta);
        thrust::host_vector<float> dg = dx;
        double diff = 0, gmax = 0;
        for (std::size_t i = 0; i < hg.size(); ++i) {
            diff = std::max(diff, static_cast<double>(std::abs(dg[i] - hg[i])));
            gmax = std::max(gmax, static_cast<double>(std::abs(hg[i])));
        }
        std::printf("ORPO on %s: loss %.7f (host seq %.7f)\n", decltype(device_policy())::name, dres.loss, href.loss);
        for (const auto& [name, value] : dres.metrics.named()) std::printf("  %-20s %.6f\n", name.c_str(), value);
        std::printf("max |dlogits device - host| = %.3g (max |dlogits| %.3g)\n", diff, gmax);
        return diff <= 1e-5 * gmax ? 0 : 1;
    } catch (const lethe::error& e) {
        std::fprintf(stderr, "orpo-thrust: %s\n", e.what());
        return 1;
    }
}

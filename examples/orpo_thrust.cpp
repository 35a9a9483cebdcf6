// orpo-thrust: ORPO forward + backward on thrust::device_vector memory. As a
// .cpp (g++, Debian thrust) it runs on thrust's OpenMP system; the same body
// is compiled by nvcc from orpo_thrust_cuda.cu and runs on the GPU. It checks
// the device result against lethe::seq on the host and prints both. Then the
// fused linear ORPO (loss/fused_linear.hpp) from hidden states H [N, D] and an
// output matrix W [V, D] on the device, GEMMs through the system's hook
// (cuBLAS on CUDA, Eigen on the OpenMP system), against the materialised
// logits H W^T computed with the same hook.
//
//   orpo-thrust [--pairs P] [--len T] [--vocab V] [--beta B] [--hidden D] [--chunk C] [--repeat R]
//
// With --repeat R it also times R runs of each (after the checks) and prints
// ORPO's bytes/s next to a device copy of the same bytes, and the fused
// path's useful GFLOP/s next to the hook's GEMM of the whole logits, both
// measured in the same run. scripts/gpu-check runs the shapes.
#include <lethe/backend/thrust.hpp>
#include <lethe/loss.hpp>
#if defined(__CUDACC__)
#include <lethe/backend/cublas.hpp>
#else
#include <lethe/loss/gemm_eigen.hpp>
#endif

#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <algorithm>
#include <string>
#include <vector>

namespace {

const char* usage =
    "usage: orpo-thrust [--pairs P] [--len T] [--vocab V] [--beta B] [--hidden D] [--chunk C]\n"
    "                   [--repeat R]\n"
    "  ORPO loss and dlogits on thrust device memory (OpenMP system, or CUDA when built\n"
    "  from the .cu), compared with the host path; then fused linear ORPO with hidden\n"
    "  size D and a [C, V] logits chunk against the materialised logits. Defaults:\n"
    "  --pairs 4 --len 128 --vocab 8192 --beta 0.1 --hidden 64 --chunk 32. --repeat R > 0\n"
    "  also times R runs of each next to same-run baselines (a copy; the logits GEMM).\n";

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

// The fused losses' GEMM hook for that memory.
auto device_gemm() {
#if defined(__CUDACC__)
    return lethe::cublas_gemm();  // default stream, as thrust_cuda()
#else
    return lethe::loss::eigen_gemm{};  // Debian's device_vector is host memory
#endif
}

// Median seconds of `repeat` runs of f; `sync` waits for the device (thrust
// algorithms may return before their kernels finish; cuBLAS always does).
template <class F, class Sync>
double median_seconds(long repeat, F&& f, Sync&& sync) {
    std::vector<double> t;
    for (long i = 0; i < repeat; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        sync();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

double max_abs_diff(const thrust::host_vector<float>& a, const thrust::host_vector<float>& b, double& amax) {
    double diff = 0;
    amax = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, static_cast<double>(std::abs(a[i] - b[i])));
        amax = std::max(amax, static_cast<double>(std::abs(b[i])));
    }
    return diff;
}

}  // namespace

int main(int argc, char** argv) {
    namespace loss = lethe::loss;
    long pairs = 4, len = 128, vocab = 8192, hidden = 64, chunk = 32, repeat = 0;
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
        else if (a == "--hidden") hidden = x;
        else if (a == "--chunk") chunk = x;
        else if (a == "--repeat") repeat = x;
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
        thrust::host_vector<float> dg = dx, hgv(hg.begin(), hg.end());
        double gmax = 0;
        const double diff = max_abs_diff(dg, hgv, gmax);
        std::printf("ORPO on %s: loss %.7f (host seq %.7f)\n", decltype(device_policy())::name, dres.loss, href.loss);
        for (const auto& [name, value] : dres.metrics.named()) std::printf("  %-20s %.6f\n", name.c_str(), value);
        std::printf("max |dlogits device - host| = %.3g (max |dlogits| %.3g)\n", diff, gmax);
        bool ok = diff <= 1e-5 * gmax;

        // Fused linear ORPO on the device: H [n, D], W [V, D], a [C, V] chunk.
        const lethe::index_t D = hidden;
        std::normal_distribution<float> hd(0.0f, 1.0f);
        std::vector<float> h(static_cast<std::size_t>(n * D)), wt(static_cast<std::size_t>(V * D));
        for (float& e : h) e = hd(gen);
        for (float& e : wt) e = 0.3f * hd(gen);
        thrust::device_vector<float> dh_in(h.begin(), h.end()), dw_in(wt.begin(), wt.end()), fdh(h.size()),
            fdw(wt.size()), mdh(h.size()), mdw(wt.size()), fchunk(static_cast<std::size_t>(chunk * V));
        const auto pol = device_policy();
        const auto gemm = device_gemm();
        const auto H = lethe::view_of(std::as_const(dh_in), n, D);
        const auto W = lethe::view_of(std::as_const(dw_in), V, D);
        const auto tt = loss::make_token_targets(lethe::view_of(std::as_const(dt), rows, len),
                                                 lethe::view_of(std::as_const(dm), rows, len));
        const loss::fused_linear_workspace<float, S> fws{w, lethe::view_of(fchunk, chunk, V)};
        const auto cfg = loss::preference_config::orpo(beta);
        const auto fres = loss::fused_linear_preference(pol, gemm, H, W, tt, fws, lethe::view_of(fdh, n, D),
                                                        lethe::view_of(fdw, V, D), cfg);
        // Materialised with the same hook: Z = H W^T, G in place, dH = G W, dW = G^T H.
        thrust::device_vector<float> z(static_cast<std::size_t>(n * V));
        gemm(pol, false, true, 1.0f, H, W, 0.0f, lethe::view_of(z, n, V));
        const auto zb = loss::make_token_batch(lethe::view_of(std::as_const(z), rows, len, V),
                                               lethe::view_of(std::as_const(dt), rows, len),
                                               lethe::view_of(std::as_const(dm), rows, len));
        const auto mres = loss::preference_loss(pol, zb, w, lethe::view_of(z, n, V), cfg);
        gemm(pol, false, false, 1.0f, lethe::view_of(std::as_const(z), n, V), W, 0.0f, lethe::view_of(mdh, n, D));
        gemm(pol, true, false, 1.0f, lethe::view_of(std::as_const(z), n, V), H, 0.0f, lethe::view_of(mdw, V, D));
        double hmax = 0, wmax = 0;
        const double hdiff = max_abs_diff(thrust::host_vector<float>(fdh), thrust::host_vector<float>(mdh), hmax);
        const double wdiff = max_abs_diff(thrust::host_vector<float>(fdw), thrust::host_vector<float>(mdw), wmax);
        std::printf("fused linear ORPO (N %ld, D %ld, V %ld, chunk %ld): loss %.7f (materialised %.7f)\n",
                    static_cast<long>(n), hidden, vocab, chunk, fres.loss, mres.loss);
        std::printf("  max |dH fused - materialised| = %.3g (max %.3g); dW %.3g (max %.3g)\n", hdiff, hmax, wdiff, wmax);
        std::printf("  logits buffer: fused %.2f MB, materialised %.2f MB\n", 4e-6 * double(chunk * V),
                    4e-6 * double(n * V));
        // Float GEMMs summed in different blockings: 5e-7..6e-7 of the max on the
        // OpenMP system (default and --vocab 3000 --hidden 20 --chunk 3).
        ok = ok && std::abs(fres.loss - mres.loss) <= 1e-5 * std::abs(mres.loss) && hdiff <= 1e-5 * hmax &&
             wdiff <= 1e-5 * wmax;
        if (repeat > 0 && ok) {
            // Timing on fresh logits each run is not needed: ORPO reads the
            // logits and writes the gradient to a second buffer.
            thrust::device_vector<float> g(x.size()), copy_dst(x.size());
            auto sync = [&] { volatile float probe = g[0] + copy_dst[0] + fdw[0] + z[0]; (void)probe; };
            const double bytes = 2.0 * 4.0 * double(n) * double(V);  // read logits + write gradient
            const double t_orpo = median_seconds(repeat, [&] {
                loss::orpo(pol, db, w, lethe::view_of(g, n, V), beta);
            }, sync);
            const double t_copy = median_seconds(repeat, [&] {
                thrust::copy(dx.begin(), dx.end(), copy_dst.begin());
            }, sync);
            const double flops = 2.0 * double(n) * double(V) * double(D);  // one GEMM of the logits
            const double t_fused = median_seconds(repeat, [&] {
                loss::fused_linear_preference(pol, gemm, H, W, tt, fws, lethe::view_of(fdh, n, D), lethe::view_of(fdw, V, D), cfg);
            }, sync);
            const double t_gemm = median_seconds(repeat, [&] {
                gemm(pol, false, true, 1.0f, H, W, 0.0f, lethe::view_of(z, n, V));
            }, sync);
            std::printf("timing (median of %ld):\n", repeat);
            std::printf("  ORPO fwd+bwd         %9.3f ms  %7.1f GB/s   copy of the same bytes %8.3f ms (%.1f GB/s): %.0f%%\n",
                        1e3 * t_orpo, 1e-9 * bytes / t_orpo, 1e3 * t_copy, 1e-9 * bytes / t_copy, 100.0 * t_copy / t_orpo);
            std::printf("  fused linear ORPO    %9.3f ms  %7.1f useful GFLOP/s (3 GEMMs)   logits GEMM %8.3f ms "
                        "(%.1f GFLOP/s): %.0f%%\n",
                        1e3 * t_fused, 1e-9 * 3 * flops / t_fused, 1e3 * t_gemm, 1e-9 * flops / t_gemm,
                        100.0 * (3 * flops / t_fused) / (flops / t_gemm));
        }
        return ok ? 0 : 1;
    } catch (const lethe::error& e) {
        std::fprintf(stderr, "orpo-thrust: %s\n", e.what());
        return 1;
    }
}

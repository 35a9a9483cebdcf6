// The losses through thrust containers and a thrust policy, compared with
// lethe::seq on plain host vectors; the fused linear losses through a GEMM
// hook on the same memory. Included by test_loss_thrust.cpp (Debian
// thrust, OpenMP system, g++) and test_loss_cuda.cu (CCCL thrust, CUDA
// system, nvcc), so both backends run the same cases.
// Tolerances: every token row is computed by the same kernel, but sums over
// tokens, rows and pairs are combined in thrust's order (and on the GPU expf
// / logf differ from the host's exp_fast by a few ulp), so values agree to
// float rounding of short sums: 1e-5 relative, gradients 1e-5 of their max.
#pragma once

#include <lethe/backend/thrust.hpp>
#include <lethe/loss.hpp>

#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lethe_test.hpp"

namespace loss_backend {

using lethe::index_t;
namespace loss = lethe::loss;

constexpr index_t rows = 4, len = 9, vocab = 1000, n_tok = rows * len;

struct host_data {
    std::vector<float> logits = lethe_test::random_normal<float>(n_tok * vocab, 99, 3.0);
    std::vector<std::int32_t> targets = std::vector<std::int32_t>(n_tok);
    std::vector<std::uint8_t> mask = std::vector<std::uint8_t>(n_tok);
    std::vector<float> ref{-40.f, -35.f, -42.f, -38.f};
    host_data() {
        for (index_t n = 0; n < n_tok; ++n) {
            targets[n] = static_cast<std::int32_t>((n * 7919) % vocab);
            const index_t t = n % len;
            mask[n] = t < 2 ? 2 : (t < len - n / len ? 1 : 0);  // prompt, completion, padding varies per row
        }
    }
};

struct outcome {
    double loss;
    std::vector<float> grad;
};

// Host reference on lethe::seq.
template <class Run>
outcome on_host(host_data& h, Run&& run) {
    loss::host_loss_workspace<float> ws(n_tok, rows);
    outcome o{0, std::vector<float>(h.logits.size())};
    auto b = loss::make_token_batch(lethe::make_view(h.logits.data(), rows, len, vocab),
                                    lethe::make_view(h.targets.data(), rows, len),
                                    lethe::make_view(h.mask.data(), rows, len));
    o.loss = run(lethe::seq, b, ws.view(), lethe::make_view(o.grad.data(), n_tok, vocab),
                 lethe::make_view(std::as_const(h.ref).data(), rows));
    return o;
}

// A loss workspace carved from two device vectors: tok [2 N], seqs [6 rows].
inline loss::loss_workspace<float, lethe::thrust_device_space> device_workspace(thrust::device_vector<float>& tok,
                                                                               thrust::device_vector<float>& seqs) {
    auto tokv = lethe::view_of(tok);
    auto seqv = lethe::view_of(seqs);
    loss::loss_workspace<float, lethe::thrust_device_space> w;
    w.lse = tokv.slice_rows(0, n_tok);
    w.logp = tokv.slice_rows(n_tok, n_tok);
    w.stats.completion_sum = seqv.slice_rows(0, rows);
    w.stats.completion_tokens = seqv.slice_rows(rows, rows);
    w.stats.all_sum = seqv.slice_rows(2 * rows, rows);
    w.stats.all_tokens = seqv.slice_rows(3 * rows, rows);
    w.coef_completion = seqv.slice_rows(4 * rows, rows);
    w.coef_prompt = seqv.slice_rows(5 * rows, rows);
    return w;
}

// The same on thrust::device_vector memory with the given thrust policy.
template <class Policy, class Run>
outcome on_thrust(const Policy& pol, host_data& h, Run&& run) {
    thrust::device_vector<float> x(h.logits.begin(), h.logits.end()), g(h.logits.size()), ref(h.ref.begin(), h.ref.end());
    thrust::device_vector<std::int32_t> t(h.targets.begin(), h.targets.end());
    thrust::device_vector<std::uint8_t> m(h.mask.begin(), h.mask.end());
    thrust::device_vector<float> tok(2 * n_tok), seqs(6 * rows);
    using S = lethe::thrust_device_space;
    const loss::loss_workspace<float, S> w = device_workspace(tok, seqs);
    auto b = loss::make_token_batch(lethe::view_of(std::as_const(x), rows, len, vocab),
                                    lethe::view_of(std::as_const(t), rows, len), lethe::view_of(std::as_const(m), rows, len));
    outcome o{0, std::vector<float>(h.logits.size())};
    o.loss = run(pol, b, w, lethe::view_of(g, n_tok, vocab), lethe::view1<const float, S>(lethe::view_of(std::as_const(ref))));
    thrust::host_vector<float> back = g;
    for (std::size_t i = 0; i < back.size(); ++i) o.grad[i] = back[i];
    return o;
}

inline void compare(const outcome& got, const outcome& want, const char* what) {
    BOOST_CHECK_MESSAGE(lethe_test::close(got.loss, want.loss, 1e-5, 1e-7),
                        what << ": loss " << got.loss << " vs " << want.loss);
    float gmax = 0;
    for (float v : want.grad) gmax = std::max(gmax, std::abs(v));
    std::size_t bad = 0;
    for (std::size_t i = 0; i < got.grad.size(); ++i) bad += std::abs(got.grad[i] - want.grad[i]) > 1e-5f * gmax;
    BOOST_CHECK_MESSAGE(bad == 0, what << ": " << bad << " gradient entries differ by more than 1e-5 of the max");
    BOOST_CHECK_GT(gmax, 0.0f);
}

// Runs NLL, ORPO (both NLL scopes), DPO, SimPO and NPO on the policy.
template <class Policy>
void run_all(const Policy& pol) {
    host_data h;
    auto nll = [](const auto& p, const auto& b, const auto&, const auto& g, const auto&) {
        return double(loss::nll(p, b.logits, b.targets, b.mask, g).loss);
    };
    compare(on_thrust(pol, h, nll), on_host(h, nll), "nll");
    for (auto cfg : {loss::preference_config::orpo(0.1),
                     loss::preference_config::orpo(0.1, loss::nll_scope::prompt_and_completion),
                     loss::preference_config::dpo(0.1, 0.1), loss::preference_config::simpo(2.0, 0.5),
                     loss::preference_config::orpo(0.1).with_layout(loss::pair_layout::interleaved)}) {
        auto pref = [cfg](const auto& p, const auto& b, const auto& w, const auto& g, const auto& r) {
            return loss::preference_loss(p, b, w, g, cfg, r).loss;
        };
        compare(on_thrust(pol, h, pref), on_host(h, pref), "preference");
    }
    loss::unlearning_config u;
    u.kind = loss::unlearning_kind::npo;
    u.forget_rows = 3;
    auto npo = [u](const auto& p, const auto& b, const auto& w, const auto& g, const auto& r) {
        return loss::unlearning_loss(p, b, w, g, u, r).loss;
    };
    compare(on_thrust(pol, h, npo), on_host(h, npo), "npo");
    // Bad input is reported from the device path too (row 1: target id out of range).
    h.targets[1 * len + 4] = static_cast<std::int32_t>(vocab);
    bool threw = false;
    try {
        on_thrust(pol, h, nll);
    } catch (const lethe::error& e) {
        threw = std::string(e.what()).find("target id 1000") != std::string::npos;
    }
    BOOST_CHECK(threw);
}

// ---------------------------------------------------------------------------
// Fused linear + loss (loss/fused_linear.hpp) on thrust memory with a GEMM
// hook (host: loss::eigen_gemm; CUDA: lethe::cublas_gemm), against the
// materialised path on the host: Z = H W^T accumulated in double, the loss
// and G = dL/dZ on lethe::seq, then dH = G W and dW = G^T H in double.
// Tolerances: the fused path sums the same products in float (K = 16 for Z,
// 36 tokens for dW, up to 1000 vocabulary columns in two tiles for dH), so
// it is within ~sqrt(1000) float ulps of the double reference: loss 1e-5
// relative, gradients 1e-5 of their largest entry.
constexpr index_t dim = 16;

struct fused_data {
    host_data tok;
    std::vector<float> h = lethe_test::random_normal<float>(n_tok * dim, 5, 1.0);
    std::vector<float> w = lethe_test::random_normal<float>(vocab * dim, 6, 0.5);
};

struct fused_outcome {
    double loss;
    std::vector<float> dh, dw;
};

template <class Run>
fused_outcome fused_on_host(const fused_data& f, Run&& materialised) {
    host_data z = f.tok;
    for (index_t n = 0; n < n_tok; ++n)
        for (index_t v = 0; v < vocab; ++v) {
            double acc = 0;
            for (index_t k = 0; k < dim; ++k) acc += double(f.h[n * dim + k]) * f.w[v * dim + k];
            z.logits[std::size_t(n * vocab + v)] = float(acc);
        }
    const outcome o = on_host(z, materialised);
    fused_outcome r{o.loss, std::vector<float>(f.h.size()), std::vector<float>(f.w.size())};
    for (index_t n = 0; n < n_tok; ++n)
        for (index_t k = 0; k < dim; ++k) {
            double acc = 0;
            for (index_t v = 0; v < vocab; ++v) acc += double(o.grad[std::size_t(n * vocab + v)]) * f.w[v * dim + k];
            r.dh[std::size_t(n * dim + k)] = float(acc);
        }
    for (index_t v = 0; v < vocab; ++v)
        for (index_t k = 0; k < dim; ++k) {
            double acc = 0;
            for (index_t n = 0; n < n_tok; ++n) acc += double(o.grad[std::size_t(n * vocab + v)]) * f.h[n * dim + k];
            r.dw[std::size_t(v * dim + k)] = float(acc);
        }
    return r;
}

// The fused run on device vectors; chunk_rows sets the [chunk_rows, vocab]
// logits buffer (8: blocks of 7 token rows; 1: one row in two vocabulary
// tiles), so both tilings of fused_forward/backward run.
template <class Policy, class Gemm, class Run>
fused_outcome fused_on_thrust(const Policy& pol, const Gemm& gemm, const fused_data& f, index_t chunk_rows,
                              Run&& fused) {
    using S = lethe::thrust_device_space;
    thrust::device_vector<float> h(f.h.begin(), f.h.end()), w(f.w.begin(), f.w.end()), dh(f.h.size(), 7.f),
        dw(f.w.size(), 7.f), ref(f.tok.ref.begin(), f.tok.ref.end()), tok(2 * n_tok), seqs(6 * rows),
        chunk(std::size_t(chunk_rows * vocab));
    thrust::device_vector<std::int32_t> t(f.tok.targets.begin(), f.tok.targets.end());
    thrust::device_vector<std::uint8_t> m(f.tok.mask.begin(), f.tok.mask.end());
    const loss::fused_linear_workspace<float, S> ws{device_workspace(tok, seqs), lethe::view_of(chunk, chunk_rows, vocab)};
    const auto tt = loss::make_token_targets(lethe::view_of(std::as_const(t), rows, len),
                                             lethe::view_of(std::as_const(m), rows, len));
    fused_outcome o{0, std::vector<float>(f.h.size()), std::vector<float>(f.w.size())};
    o.loss = fused(pol, gemm, lethe::view_of(std::as_const(h), n_tok, dim), lethe::view_of(std::as_const(w), vocab, dim),
                   tt, ws, lethe::view_of(dh, n_tok, dim), lethe::view_of(dw, vocab, dim),
                   lethe::view1<const float, S>(lethe::view_of(std::as_const(ref))));
    thrust::host_vector<float> bh = dh, bw = dw;  // dH, dW start at 7: the fused path must overwrite, not add
    std::copy(bh.begin(), bh.end(), o.dh.begin());
    std::copy(bw.begin(), bw.end(), o.dw.begin());
    return o;
}

inline void compare_fused(const fused_outcome& got, const fused_outcome& want, const char* what) {
    BOOST_CHECK_MESSAGE(lethe_test::close(got.loss, want.loss, 1e-5, 1e-7),
                        what << ": loss " << got.loss << " vs " << want.loss);
    auto check = [what](const std::vector<float>& a, const std::vector<float>& b, const char* name) {
        float gmax = 0;
        for (float v : b) gmax = std::max(gmax, std::abs(v));
        std::size_t bad = 0;
        for (std::size_t i = 0; i < a.size(); ++i) bad += !(std::abs(a[i] - b[i]) <= 1e-5f * gmax);
        BOOST_CHECK_MESSAGE(bad == 0, what << ": " << bad << " entries of " << name << " differ by more than 1e-5 of the max");
        BOOST_CHECK_GT(gmax, 0.0f);
    };
    check(got.dh, want.dh, "dH");
    check(got.dw, want.dw, "dW");
}

// Fused NLL, ORPO, DPO (reference log-probs) and NPO through the hook.
template <class Policy, class Gemm>
void run_fused(const Policy& pol, const Gemm& gemm) {
    const fused_data f;
    for (index_t chunk_rows : {8, 1}) {
        auto nll = [](const auto& p, const auto& b, const auto&, const auto& g, const auto&) {
            return double(loss::nll(p, b.logits, b.targets, b.mask, g).loss);
        };
        auto fused_nll = [](const auto& p, const auto& gm, auto h, auto w, const auto& tt, const auto& ws, auto dh,
                            auto dw, auto) { return double(loss::fused_linear_nll(p, gm, h, w, tt, ws, dh, dw).loss); };
        compare_fused(fused_on_thrust(pol, gemm, f, chunk_rows, fused_nll), fused_on_host(f, nll), "fused nll");
        for (auto cfg : {loss::preference_config::orpo(0.1), loss::preference_config::dpo(0.1, 0.1)}) {
            auto pref = [cfg](const auto& p, const auto& b, const auto& w, const auto& g, const auto& r) {
                return loss::preference_loss(p, b, w, g, cfg, r).loss;
            };
            auto fused_pref = [cfg](const auto& p, const auto& gm, auto h, auto w, const auto& tt, const auto& ws,
                                    auto dh, auto dw, auto r) {
                return loss::fused_linear_preference(p, gm, h, w, tt, ws, dh, dw, cfg, r).loss;
            };
            compare_fused(fused_on_thrust(pol, gemm, f, chunk_rows, fused_pref), fused_on_host(f, pref),
                          "fused preference");
        }
        loss::unlearning_config u;
        u.kind = loss::unlearning_kind::npo;
        u.forget_rows = 3;
        auto npo = [u](const auto& p, const auto& b, const auto& w, const auto& g, const auto& r) {
            return loss::unlearning_loss(p, b, w, g, u, r).loss;
        };
        auto fused_npo = [u](const auto& p, const auto& gm, auto h, auto w, const auto& tt, const auto& ws, auto dh,
                             auto dw, auto r) {
            return loss::fused_linear_unlearning(p, gm, h, w, tt, ws, dh, dw, u, r).loss;
        };
        compare_fused(fused_on_thrust(pol, gemm, f, chunk_rows, fused_npo), fused_on_host(f, npo), "fused npo");
    }
    // A target outside the vocabulary is reported from the device path too.
    fused_data bad;
    bad.tok.targets[2 * len + 3] = static_cast<std::int32_t>(vocab + 5);
    bool threw = false;
    try {
        fused_on_thrust(pol, gemm, bad, 8, [](const auto& p, const auto& gm, auto h, auto w, const auto& tt,
                                              const auto& ws, auto dh, auto dw, auto r) {
            return loss::fused_linear_preference(p, gm, h, w, tt, ws, dh, dw, loss::preference_config::orpo(0.1), r)
                .loss;
        });
    } catch (const lethe::error& e) {
        threw = std::string(e.what()).find("target id 1005") != std::string::npos;
    }
    BOOST_CHECK(threw);
}

}  // namespace loss_backend

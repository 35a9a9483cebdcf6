// The losses through thrust containers and a thrust policy, compared with
// lethe::seq on plain host vectors. Included by test_loss_thrust.cpp (Debian
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

#include <cmath>
#include <cstdint>
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

// The same on thrust::device_vector memory with the given thrust policy.
template <class Policy, class Run>
outcome on_thrust(const Policy& pol, host_data& h, Run&& run) {
    thrust::device_vector<float> x(h.logits.begin(), h.logits.end()), g(h.logits.size()), ref(h.ref.begin(), h.ref.end());
    thrust::device_vector<std::int32_t> t(h.targets.begin(), h.targets.end());
    thrust::device_vector<std::uint8_t> m(h.mask.begin(), h.mask.end());
    thrust::device_vector<float> tok(2 * n_tok), seqs(6 * rows);
    using S = lethe::thrust_device_space;
    auto tokv = lethe::view_of(tok);
    auto seqv = lethe::view_of(seqs);
    loss::loss_workspace<float, S> w;
    w.lse = tokv.slice_rows(0, n_tok);
    w.logp = tokv.slice_rows(n_tok, n_tok);
    w.stats.completion_sum = seqv.slice_rows(0, rows);
    w.stats.completion_tokens = seqv.slice_rows(rows, rows);
    w.stats.all_sum = seqv.slice_rows(2 * rows, rows);
    w.stats.all_tokens = seqv.slice_rows(3 * rows, rows);
    w.coef_completion = seqv.slice_rows(4 * rows, rows);
    w.coef_prompt = seqv.slice_rows(5 * rows, rows);
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

}  // namespace loss_backend

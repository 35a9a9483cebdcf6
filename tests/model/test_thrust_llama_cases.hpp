// The thrust model against the CPU model (llama.hpp), shared by
// test_thrust_llama.cpp (thrust's CPP and OMP systems, host GEMM) and
// test_thrust_llama_cuda.cu (CUDA system, cuBLAS). Each case takes a
// factory `make(config)` returning a thrust_llama for one system; the CPU
// model with the same seeded weights is the reference, and the thrust model
// gets those weights through load_parameters (one transfer).
#pragma once

#include <lethe/guidance.hpp>
#include <lethe/loss/nll.hpp>
#include <lethe/model/llama.hpp>
#include <lethe/model/optim.hpp>
#include <lethe/model/thrust_llama.hpp>
#include <lethe/model/thrust_optim.hpp>

#include <algorithm>
#include <type_traits>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "lethe_test.hpp"

namespace thrust_llama_cases {

namespace lm = lethe::model;
using lethe::index_t;
using lethe::token_id;

// Grouped-query attention (4 heads on 2 KV heads) and a vocabulary that is
// not a multiple of anything, so index mistakes show.
inline lm::llama_config small_config() {
    lm::llama_config c;
    c.vocab = 37;
    c.d_model = 32;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.d_ff = 48;
    c.max_seq = 24;
    return c;
}

// Large enough that every kernel runs on many threads (and blocks on a GPU).
inline lm::llama_config wide_config() {
    lm::llama_config c;
    c.vocab = 1003;
    c.d_model = 256;
    c.n_layers = 3;
    c.n_heads = 8;
    c.n_kv_heads = 2;
    c.d_ff = 688;
    c.max_seq = 160;
    return c;
}

inline std::vector<token_id> some_tokens(index_t n, int salt, index_t vocab) {
    std::vector<token_id> t(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) t[std::size_t(i)] = token_id((i * 7 + salt * 13 + 3) % vocab);
    return t;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
    return worst;
}

// A CPU model and a thrust model holding the same weights, `slots` slots each.
template <class Make>
struct model_pair {
    lm::llama<float> cpu;
    decltype(std::declval<Make&>()(std::declval<const lm::llama_config&>())) gpu;
    model_pair(Make& make, const lm::llama_config& c, std::uint64_t seed, double stddev, index_t slots)
        : cpu(c), gpu(make(c)) {
        cpu.init_random(seed, stddev);
        gpu.load_parameters(cpu.params());
        cpu.set_num_slots(slots);
        gpu.set_num_slots(slots);
    }
};

template <class M>
void prefill_rows(M& m, const std::vector<index_t>& slots, const std::vector<std::vector<token_id>>& rows,
                  std::vector<float>& out) {
    std::vector<std::span<const token_id>> spans(rows.begin(), rows.end());
    out.assign(rows.size() * std::size_t(m.vocab_size()), 0.0f);
    m.prefill(slots, spans, lethe::make_view(out.data(), index_t(rows.size()), m.vocab_size()));
}
template <class M>
void step_rows(M& m, const std::vector<index_t>& slots, const std::vector<token_id>& next, std::vector<float>& out) {
    out.assign(next.size() * std::size_t(m.vocab_size()), 0.0f);
    m.step(slots, next, lethe::make_view(out.data(), index_t(next.size()), m.vocab_size()));
}

// Prefill 7 tokens, then decode 13 one at a time: every position's logits
// agree with the CPU model within `tol`.
template <class Make>
void prefill_and_decode_match_cpu(Make make, double tol) {
    model_pair<Make> p(make, small_config(), 3, 0.1, 2);
    const index_t T = 20, V = p.cpu.vocab_size();
    const auto toks = some_tokens(T, 1, V);
    const std::vector<index_t> slot = {1};
    std::vector<float> a, b;
    prefill_rows(p.cpu, slot, {std::vector<token_id>(toks.begin(), toks.begin() + 7)}, a);
    prefill_rows(p.gpu, slot, {std::vector<token_id>(toks.begin(), toks.begin() + 7)}, b);
    BOOST_CHECK_MESSAGE(max_abs_diff(a, b) <= tol, "prefill: max |thrust - cpu| = " << max_abs_diff(a, b));
    double worst = 0;
    for (index_t pos = 7; pos < T; ++pos) {
        step_rows(p.cpu, slot, {toks[std::size_t(pos)]}, a);
        step_rows(p.gpu, slot, {toks[std::size_t(pos)]}, b);
        worst = std::max(worst, max_abs_diff(a, b));
    }
    BOOST_CHECK_MESSAGE(worst <= tol, "decode: max |thrust - cpu| over 13 steps = " << worst);
    BOOST_TEST_MESSAGE("small config, decode: max |thrust - cpu| = " << worst);
    BOOST_CHECK_EQUAL(p.gpu.length(1), T);
    BOOST_CHECK_EQUAL(p.gpu.length(0), 0);
}

// Sequences of different lengths in one batch: a ragged prefill (9, 3 and 1
// tokens in slots 2, 0, 1) and two batched steps agree with the CPU model
// doing the same calls, and with the thrust model doing them one by one
// (within `tol` too: the host GEMM takes another kernel for <= 4 rows).
template <class Make>
void ragged_batch_matches_cpu(Make make, double tol) {
    model_pair<Make> p(make, small_config(), 4, 0.1, 3);
    const index_t V = p.cpu.vocab_size();
    const std::vector<std::vector<token_id>> rows = {some_tokens(9, 2, V), some_tokens(3, 5, V), some_tokens(1, 7, V)};
    const std::vector<index_t> slots = {2, 0, 1};
    std::vector<float> a, b;
    prefill_rows(p.cpu, slots, rows, a);
    prefill_rows(p.gpu, slots, rows, b);
    BOOST_CHECK_MESSAGE(max_abs_diff(a, b) <= tol, "ragged prefill: max |thrust - cpu| = " << max_abs_diff(a, b));
    std::vector<float> batched_steps;
    for (const std::vector<token_id>& next : {std::vector<token_id>{4, 30, 0}, std::vector<token_id>{36, 1, 17}}) {
        step_rows(p.cpu, slots, next, a);
        step_rows(p.gpu, slots, next, b);
        BOOST_CHECK_MESSAGE(max_abs_diff(a, b) <= tol, "batched step: max |thrust - cpu| = " << max_abs_diff(a, b));
        batched_steps.insert(batched_steps.end(), b.begin(), b.end());
    }
    BOOST_CHECK_EQUAL(p.gpu.length(2), 11);
    BOOST_CHECK_EQUAL(p.gpu.length(0), 5);
    BOOST_CHECK_EQUAL(p.gpu.length(1), 3);
    // The same work one row per call on a fresh thrust model.
    auto single = make(small_config());
    single.load_parameters(p.cpu.params());
    single.set_num_slots(1);
    for (std::size_t r = 0; r < rows.size(); ++r) {
        single.reset(0);
        std::vector<float> out;
        prefill_rows(single, {0}, {rows[r]}, out);
        step_rows(single, {0}, {std::vector<token_id>{4, 30, 0}[r]}, out);
        const std::vector<float> row(batched_steps.begin() + std::ptrdiff_t(r) * V,
                                     batched_steps.begin() + std::ptrdiff_t(r + 1) * V);
        BOOST_CHECK_MESSAGE(max_abs_diff(out, row) <= tol, "row " << r << ": max |single - batched| = " << max_abs_diff(out, row));
    }
}

// guidance::generate runs on the thrust model: greedy tokens, unguided and
// with CFG (g = 2, log space) in one batch, equal the CPU model's.
template <class Make>
void generate_matches_cpu(Make make) {
    model_pair<Make> p(make, small_config(), 5, 0.3, 3);
    const index_t V = p.cpu.vocab_size();
    std::vector<lethe::guidance::generation_request> req(2);
    req[0].prompt = some_tokens(5, 1, V);
    req[1].prompt = some_tokens(6, 2, V);
    req[1].negative_prompt = some_tokens(4, 3, V);
    req[1].guidance_scale = 2.0f;
    lethe::guidance::generation_options o;
    o.sampler.params.greedy = true;
    o.sampler.max_new_tokens = 12;
    const auto want = lethe::guidance::generate(lethe::seq, p.cpu, std::span<const lethe::guidance::generation_request>(req), o);
    const auto got = lethe::guidance::generate(lethe::seq, p.gpu, std::span<const lethe::guidance::generation_request>(req), o);
    BOOST_REQUIRE_EQUAL(got.size(), want.size());
    for (std::size_t r = 0; r < got.size(); ++r) {
        BOOST_CHECK_EQUAL(got[r].tokens.size(), 12u);
        BOOST_CHECK_EQUAL_COLLECTIONS(got[r].tokens.begin(), got[r].tokens.end(), want[r].tokens.begin(),
                                      want[r].tokens.end());
    }
    // Guidance changed something, so the CFG row really was combined.
    auto unguided = req;
    unguided[1].negative_prompt.clear();
    unguided[1].guidance_scale = 1.0f;
    const auto plain = lethe::guidance::generate(lethe::seq, p.gpu, std::span<const lethe::guidance::generation_request>(unguided), o);
    BOOST_CHECK(plain[1].tokens != got[1].tokens);
}

// A wider model (many threads per kernel): a 150-token prefill in two rows
// of different lengths, then 8 batched decode steps.
template <class Make>
void wide_model_matches_cpu(Make make, double tol) {
    model_pair<Make> p(make, wide_config(), 6, 0.05, 2);
    const index_t V = p.cpu.vocab_size();
    const std::vector<std::vector<token_id>> rows = {some_tokens(150, 1, V), some_tokens(37, 2, V)};
    const std::vector<index_t> slots = {0, 1};
    std::vector<float> a, b;
    prefill_rows(p.cpu, slots, rows, a);
    prefill_rows(p.gpu, slots, rows, b);
    double worst = max_abs_diff(a, b), scale = 0;
    for (float z : a) scale = std::max(scale, double(std::abs(z)));
    for (int s = 0; s < 8; ++s) {
        const std::vector<token_id> next = {token_id((s * 31) % V), token_id((s * 17 + 5) % V)};
        step_rows(p.cpu, slots, next, a);
        step_rows(p.gpu, slots, next, b);
        worst = std::max(worst, max_abs_diff(a, b));
    }
    BOOST_TEST_MESSAGE("wide config: max |thrust - cpu| = " << worst << ", max |logit| = " << scale);
    BOOST_CHECK_MESSAGE(worst <= tol, "wide config: max |thrust - cpu| = " << worst);
    BOOST_CHECK_GT(scale, 0.1);  // the logits are not trivially zero
}

// fork copies the cache (bit-identical continuations); errors name the
// problem and change no state; parameters round-trip exactly.
template <class Make>
void fork_errors_and_parameters(Make make) {
    model_pair<Make> p(make, small_config(), 7, 0.1, 2);
    auto& m = p.gpu;
    const index_t V = m.vocab_size();
    std::vector<float> x, y;
    prefill_rows(m, {0}, {some_tokens(6, 3, V)}, x);
    m.fork(0, 1);
    BOOST_CHECK_EQUAL(m.length(1), 6);
    step_rows(m, {0}, {11}, x);
    step_rows(m, {1}, {11}, y);
    BOOST_CHECK(x == y);

    auto has = [](const std::string& msg, const char* needle) { return msg.find(needle) != std::string::npos; };
    m.reset(0);
    m.reset(1);
    prefill_rows(m, {0, 1}, {some_tokens(20, 1, V), some_tokens(3, 1, V)}, x);
    using lethe_test::error_of;
    BOOST_CHECK(has(error_of([&] { prefill_rows(m, {1, 0}, {some_tokens(1, 1, V), some_tokens(5, 2, V)}, x); }),
                    "more than max_length 24"));
    BOOST_CHECK_EQUAL(m.length(1), 3);
    BOOST_CHECK_EQUAL(m.length(0), 20);
    BOOST_CHECK(has(error_of([&] { step_rows(m, {1, 0}, {3, 37}, x); }), "id 37 outside"));
    BOOST_CHECK(has(error_of([&] { step_rows(m, {1, 1}, {3, 4}, x); }), "both use slot 1"));
    BOOST_CHECK(has(error_of([&] { step_rows(m, {0, 2}, {3, 4}, x); }), "slot 2 out of range"));
    BOOST_CHECK(has(error_of([&] { m.step(std::vector<index_t>{0, 1}, std::vector<token_id>{3, 4}, lethe::make_view(x.data(), 1, V)); }),
                    "logits"));
    BOOST_CHECK_EQUAL(m.length(1), 3);
    BOOST_CHECK_EQUAL(m.length(0), 20);

    lm::named_tensors<float> back(p.cpu.params().layout_ptr());
    m.store_parameters(back);
    BOOST_CHECK(back.storage() == p.cpu.params().storage());
    lm::llama_config other = small_config();
    other.d_ff = 50;
    lm::llama<float> wrong(other);
    BOOST_CHECK(has(error_of([&] { m.load_parameters(wrong.params()); }), "layout differs"));
}


// The model's memory -> a host vector, whatever the space.
template <class Model, class T>
std::vector<T> to_host(const T* p, index_t n) {
    std::vector<T> out(static_cast<std::size_t>(n));
    if constexpr (std::is_same_v<typename Model::space, lethe::device_space>)
        thrust::copy(thrust::device_pointer_cast(p), thrust::device_pointer_cast(p) + n, out.begin());
    else
        std::copy(p, p + n, out.begin());
    return out;
}

// Training: forward logits over [2, 7] tokens and every parameter's gradient
// for the same d(loss)/d(logits) agree with the CPU model's, per tensor
// relative to that tensor's largest gradient. Run twice (tied embeddings
// too); the second backward accumulates.
template <class T, class Make>
void training_matches_cpu(Make make, double tol_logits, double tol_grad) {
    for (bool tied : {false, true}) {
        auto c = small_config();
        c.tied_embeddings = tied;
        lm::llama<T> cpu(c);
        cpu.init_random(8, 0.1);
        auto m = make(c);
        using model_t = decltype(m);
        m.load_parameters(cpu.params());
        const index_t B = 2, S = 7, N = B * S, V = c.vocab;
        std::vector<token_id> toks = some_tokens(N, 4, V);
        toks[3] = toks[10] = 5;  // a repeated token: its embedding rows add up
        const auto lc = cpu.forward(toks, B, S);
        const auto lg = m.forward(toks, B, S);
        BOOST_REQUIRE_EQUAL(lg.extent(0), N);
        const auto got = to_host<model_t>(lg.data(), N * V);
        double worst = 0;
        for (index_t i = 0; i < N * V; ++i) worst = std::max(worst, double(std::abs(got[std::size_t(i)] - lc.data()[i])));
        BOOST_CHECK_MESSAGE(worst <= tol_logits, "training forward: max |thrust - cpu| = " << worst);

        const auto dl = lethe_test::random_normal<T>(std::size_t(N * V), 99, 0.05);
        typename model_t::template vector<T> dl_sys(dl.begin(), dl.end());
        cpu.zero_grad();
        m.zero_grad();
        for (int pass = 0; pass < 2; ++pass) {
            if (pass == 1) {  // the CPU model's forward state is reused: same tokens
                cpu.forward(toks, B, S);
                m.forward(toks, B, S);
            }
            cpu.backward(lethe::view2<const T>(dl.data(), N, V));
            m.backward(lethe::strided_view<const T, 2, typename model_t::space>(
                thrust::raw_pointer_cast(dl_sys.data()), N, V));
        }
        lm::named_tensors<T> g(cpu.params().layout_ptr());
        m.store_gradients(g);
        const auto& layout = g.layout();
        double worst_rel = 0;
        std::string worst_name;
        for (index_t t = 0; t < index_t(layout.tensors().size()); ++t) {
            const auto& info = layout[t];
            double diff = 0, scale = 0;
            for (index_t i = 0; i < info.size(); ++i) {
                diff = std::max(diff, double(std::abs(g.ptr(t)[i] - cpu.grads().ptr(t)[i])));
                scale = std::max(scale, double(std::abs(cpu.grads().ptr(t)[i])));
            }
            BOOST_CHECK_MESSAGE(scale > 0, info.name << ": the CPU gradient is zero");
            if (diff / scale > worst_rel) {
                worst_rel = diff / scale;
                worst_name = info.name;
            }
        }
        BOOST_TEST_MESSAGE("training (" << (tied ? "tied" : "untied") << ", " << sizeof(T) * 8
                                        << "-bit): logits max diff " << worst << ", worst gradient " << worst_name
                                        << " rel diff " << worst_rel);
        BOOST_CHECK_MESSAGE(worst_rel <= tol_grad, "gradient " << worst_name << ": max diff / max |grad| = " << worst_rel);
    }
    auto m = make(small_config());
    const std::vector<token_id> toks = some_tokens(4, 1, 37);
    BOOST_CHECK(lethe_test::error_of([&] { m.forward(toks, 2, 3); }).find("expected 6 ids") != std::string::npos);
    BOOST_CHECK(lethe_test::error_of([&] { m.forward(toks, 1, 4); (void)0; }) == "<no error>");
    BOOST_CHECK(lethe_test::error_of([&] { m.forward(some_tokens(25, 1, 37), 1, 25); }).find("exceeds max_position") !=
                std::string::npos);
}


// AdamW on the model's blocks: three steps with clipping (the norm computed
// on the device) and weight decay give the CPU optimizer's parameters and
// moments; the gradients end zeroed.
template <class Make>
void adamw_matches_cpu(Make make, double tol) {
    model_pair<Make> pair(make, small_config(), 9, 0.1, 0);
    auto& cpu = pair.cpu;
    auto& m = pair.gpu;
    using model_t = std::remove_cvref_t<decltype(m)>;
    using policy_t = std::remove_cvref_t<decltype(m.policy())>;
    lm::adamw_options opt;
    opt.weight_decay = 0.1;
    lm::adamw<float> host_opt(cpu.params().layout_ptr(), opt);
    lm::thrust_adamw<policy_t, float> dev_opt(cpu.params().layout(), opt, m.policy());
    lm::named_tensors<float> grads(cpu.params().layout_ptr());
    typename model_t::template vector<float> dev_grads(grads.storage().size());
    for (int step = 0; step < 3; ++step) {
        const auto g = lethe_test::random_normal<float>(grads.storage().size(), 50 + step, 0.3);
        grads.storage() = g;
        thrust::copy(g.begin(), g.end(), dev_grads.begin());
        const double host_norm = lm::grad_norm(lethe::seq, grads);
        const double dev_norm = lm::thrust_grad_norm(m.policy(), dev_grads);
        // Both sum ~10^4 squares in double, in different orders: 1e-12.
        LETHE_CHECK_CLOSE(dev_norm, host_norm, 1e-12, 0.0);
        const float scale = lm::clip_coefficient<float>(host_norm, 5.0);
        BOOST_CHECK_LT(scale, 1.0f);  // clipping is active
        host_opt.update_and_zero(lethe::seq, cpu.params(), grads, 1e-2 * (step + 1), scale);
        dev_opt.update(m.parameter_block(), dev_grads, 1e-2 * (step + 1), scale, true);
    }
    lm::named_tensors<float> back(cpu.params().layout_ptr());
    m.store_parameters(back);
    double worst = 0;
    for (index_t i = 0; i < back.size(); ++i)
        worst = std::max(worst, double(std::abs(back.data()[i] - cpu.params().data()[i])));
    BOOST_TEST_MESSAGE("adamw: max |thrust - cpu| parameter after 3 steps = " << worst);
    BOOST_CHECK_MESSAGE(worst <= tol, "adamw: max |thrust - cpu| parameter = " << worst);
    std::vector<float> mom(dev_opt.second_moment().size());
    thrust::copy(dev_opt.second_moment().begin(), dev_opt.second_moment().end(), mom.begin());
    double worst_v = 0;
    for (std::size_t i = 0; i < mom.size(); ++i)
        worst_v = std::max(worst_v, double(std::abs(mom[i] - host_opt.second_moment().data()[i])));
    BOOST_CHECK_MESSAGE(worst_v <= tol, "adamw: max |thrust - cpu| second moment = " << worst_v);
    std::vector<float> g_after(dev_grads.size());
    thrust::copy(dev_grads.begin(), dev_grads.end(), g_after.begin());
    BOOST_CHECK(std::all_of(g_after.begin(), g_after.end(), [](float x) { return x == 0.0f; }));
    BOOST_CHECK_EQUAL(dev_opt.steps(), 3);
}


// Training on the device end to end: forward, loss::nll on the model's
// logits (the loss layer's thrust path), backward, clipping with the device
// norm, AdamW on the device blocks. Six steps follow the CPU model doing the
// same with its own optimizer step for step, and the loss falls.
template <class Make>
void training_loop_matches_cpu(Make make, double tol) {
    const auto c = small_config();
    model_pair<Make> pair(make, c, 10, 0.1, 0);
    auto& cpu = pair.cpu;
    auto& m = pair.gpu;
    using model_t = std::remove_cvref_t<decltype(m)>;
    using policy_t = std::remove_cvref_t<decltype(m.policy())>;
    using space = typename model_t::space;
    const index_t B = 2, S = 12, N = B * S, V = c.vocab;
    // Two periodic sequences: easy to learn, so six steps lower the loss.
    std::vector<token_id> toks(static_cast<std::size_t>(N));
    std::vector<std::int32_t> targets(static_cast<std::size_t>(N));
    for (index_t b = 0; b < B; ++b)
        for (index_t t = 0; t < S; ++t) {
            toks[std::size_t(b * S + t)] = token_id((3 + 5 * b + 2 * (t % 4)) % V);
            targets[std::size_t(b * S + t)] = std::int32_t((3 + 5 * b + 2 * ((t + 1) % 4)) % V);
        }
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(N), 1);
    std::vector<float> dl(static_cast<std::size_t>(N * V));
    typename model_t::template vector<std::int32_t> d_targets(targets.begin(), targets.end());
    typename model_t::template vector<std::uint8_t> d_mask(mask.begin(), mask.end());
    typename model_t::template vector<float> d_dl(dl.size());
    const lethe::strided_view<const std::int32_t, 1, space> tv(thrust::raw_pointer_cast(d_targets.data()), N);
    const lethe::strided_view<const std::uint8_t, 1, space> mv(thrust::raw_pointer_cast(d_mask.data()), N);
    const lethe::strided_view<float, 2, space> dv(thrust::raw_pointer_cast(d_dl.data()), N, V);

    lm::adamw_options opt;
    lm::adamw<float> host_opt(cpu.params().layout_ptr(), opt);
    lm::thrust_adamw<policy_t, float> dev_opt(cpu.params().layout(), opt, m.policy());
    m.zero_grad();
    cpu.zero_grad();
    std::vector<double> losses;
    double worst = 0;
    for (int step = 0; step < 6; ++step) {
        const auto lc = cpu.forward(toks, B, S);
        const auto rc = lethe::loss::nll(lethe::seq, lethe::view2<const float>(lc), lethe::make_view(static_cast<const std::int32_t*>(targets.data()), N),
                                         lethe::make_view(static_cast<const std::uint8_t*>(mask.data()), N),
                                         lethe::make_view(dl.data(), N, V));
        cpu.backward(lethe::view2<const float>(dl.data(), N, V));
        const float hc = lm::clip_coefficient<float>(lm::grad_norm(lethe::seq, cpu.grads()), 1.0);
        host_opt.update_and_zero(lethe::seq, cpu.params(), cpu.grads(), 1e-2, hc);

        const auto lg = m.forward(toks, B, S);
        const auto rd = lethe::loss::nll(m.policy(), lethe::strided_view<const float, 2, space>(lg), tv, mv, dv);
        m.backward(lethe::strided_view<const float, 2, space>(dv));
        const float dc = lm::clip_coefficient<float>(lm::thrust_grad_norm(m.policy(), m.gradient_block()), 1.0);
        dev_opt.update(m.parameter_block(), m.gradient_block(), 1e-2, dc, true);

        losses.push_back(rd.loss);
        worst = std::max(worst, double(std::abs(rd.loss - rc.loss)));
    }
    BOOST_TEST_MESSAGE("training loop: loss " << losses.front() << " -> " << losses.back()
                                              << ", max |thrust - cpu| loss = " << worst);
    BOOST_CHECK_MESSAGE(worst <= tol, "training loop: max |thrust - cpu| loss = " << worst);
    BOOST_CHECK_LT(losses.back(), 0.8 * losses.front());
}

}  // namespace thrust_llama_cases

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


// Two periodic sequences of 12 tokens (easy to learn, so a few steps lower
// the loss) with their next-token targets, on the host for the CPU model and
// in the model's memory for the thrust one. Each step runs forward,
// loss::nll (the loss layer's thrust path on the device) and backward, and
// returns the loss.
template <class Model>
struct periodic_nll_task {
    using space = typename Model::space;
    static constexpr index_t B = 2, S = 12, N = B * S;
    index_t V;
    std::vector<token_id> toks;
    std::vector<std::int32_t> targets;
    std::vector<std::uint8_t> mask;
    std::vector<float> dl;
    typename Model::template vector<std::int32_t> d_targets;
    typename Model::template vector<std::uint8_t> d_mask;
    typename Model::template vector<float> d_dl;

    // (The device vectors are sized at construction: thrust 1.17's resize of
    // an empty host_vector passes a null pointer to memmove, which UBSan flags.)
    explicit periodic_nll_task(index_t vocab)
        : V(vocab), toks(std::size_t(N)), targets(std::size_t(N)), mask(std::size_t(N), 1), dl(std::size_t(N * vocab)),
          d_targets(std::size_t(N)), d_mask(std::size_t(N), std::uint8_t(1)), d_dl(std::size_t(N * vocab)) {
        for (index_t b = 0; b < B; ++b)
            for (index_t t = 0; t < S; ++t) {
                toks[std::size_t(b * S + t)] = token_id((3 + 5 * b + 2 * (t % 4)) % V);
                targets[std::size_t(b * S + t)] = std::int32_t((3 + 5 * b + 2 * ((t + 1) % 4)) % V);
            }
        thrust::copy(targets.begin(), targets.end(), d_targets.begin());
    }
    double cpu_step(lm::llama<float>& cpu) {
        const auto lg = cpu.forward(toks, B, S);
        const auto r = lethe::loss::nll(lethe::seq, lethe::view2<const float>(lg),
                                        lethe::make_view(static_cast<const std::int32_t*>(targets.data()), N),
                                        lethe::make_view(static_cast<const std::uint8_t*>(mask.data()), N),
                                        lethe::make_view(dl.data(), N, V));
        cpu.backward(lethe::view2<const float>(dl.data(), N, V));
        return r.loss;
    }
    double device_step(Model& m) {
        const lethe::strided_view<const std::int32_t, 1, space> tv(thrust::raw_pointer_cast(d_targets.data()), N);
        const lethe::strided_view<const std::uint8_t, 1, space> mv(thrust::raw_pointer_cast(d_mask.data()), N);
        const lethe::strided_view<float, 2, space> dv(thrust::raw_pointer_cast(d_dl.data()), N, V);
        const auto lg = m.forward(toks, B, S);
        const auto r = lethe::loss::nll(m.policy(), lethe::strided_view<const float, 2, space>(lg), tv, mv, dv);
        m.backward(lethe::strided_view<const float, 2, space>(dv));
        return r.loss;
    }
};

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
    periodic_nll_task<model_t> task(c.vocab);
    lm::adamw_options opt;
    lm::adamw<float> host_opt(cpu.params().layout_ptr(), opt);
    lm::thrust_adamw<policy_t, float> dev_opt(cpu.params().layout(), opt, m.policy());
    m.zero_grad();
    cpu.zero_grad();
    std::vector<double> losses;
    double worst = 0;
    for (int step = 0; step < 6; ++step) {
        const double lc = task.cpu_step(cpu);
        const float hc = lm::clip_coefficient<float>(lm::grad_norm(lethe::seq, cpu.grads()), 1.0);
        host_opt.update_and_zero(lethe::seq, cpu.params(), cpu.grads(), 1e-2, hc);

        const double ld = task.device_step(m);
        const float dc = lm::clip_coefficient<float>(lm::thrust_grad_norm(m.policy(), m.gradient_block()), 1.0);
        dev_opt.update(m.parameter_block(), m.gradient_block(), 1e-2, dc, true);

        losses.push_back(ld);
        worst = std::max(worst, std::abs(ld - lc));
    }
    BOOST_TEST_MESSAGE("training loop: loss " << losses.front() << " -> " << losses.back()
                                              << ", max |thrust - cpu| loss = " << worst);
    BOOST_CHECK_MESSAGE(worst <= tol, "training loop: max |thrust - cpu| loss = " << worst);
    BOOST_CHECK_LT(losses.back(), 0.8 * losses.front());
}


// ----------------------------------------------------------------- LoRA
namespace lora_cases {

// The two adapter set-ups every LoRA case runs: a subset of targets without
// dropout, and all seven linear layers with dropout (the masks must be the
// CPU model's).
inline std::vector<lm::lora_config> lora_settings() {
    lm::lora_config subset;
    subset.rank = 3;
    subset.alpha = 6.0;
    subset.targets = {"q_proj", "v_proj", "down_proj"};
    lm::lora_config all;
    all.rank = 4;
    all.alpha = 8.0;
    all.dropout = 0.25;
    return {subset, all};
}

inline std::string describe(const lm::lora_config& lc) {
    return std::to_string(lc.targets.size()) + " targets, dropout " + std::to_string(lc.dropout);
}

// A CPU model and a thrust model with the same seeded weights (stddev 0.1)
// and the same adapters: enable_lora with one seed gives bit-identical
// values (checked), then, as PEFT's B starts at zero, every adapter value is
// moved so each gradient term carries signal, and the thrust model gets them
// through load_lora.
template <class T, class Make>
struct lora_pair {
    lm::llama<T> cpu;
    decltype(std::declval<Make&>()(std::declval<const lm::llama_config&>())) gpu;
    lora_pair(Make& make, const lm::llama_config& c, std::uint64_t seed, const lm::lora_config& lc,
              std::uint64_t lora_seed)
        : cpu(c), gpu(make(c)) {
        cpu.init_random(seed, 0.1);
        gpu.load_parameters(cpu.params());
        cpu.enable_lora(lc, lora_seed);
        gpu.enable_lora(lc, lora_seed);
        BOOST_CHECK(gpu.has_lora());
        BOOST_CHECK_EQUAL(gpu.lora_settings().rank, lc.rank);
        lm::named_tensors<T> a(gpu.lora_layout());
        gpu.store_lora(a);
        BOOST_CHECK(a.storage() == cpu.lora()->params.storage());  // the same init, bit for bit
        auto& p = cpu.lora()->params;
        for (index_t i = 0; i < p.size(); ++i) p.data()[i] += T(0.05 * std::cos(double(i)));
        gpu.load_lora(p);
    }
};

template <class A, class B>
double rel_diff(const A& got, const B& want, index_t n) {
    double diff = 0, scale = 0;
    for (index_t i = 0; i < n; ++i) {
        diff = std::max(diff, double(std::abs(got[std::size_t(i)] - want[std::size_t(i)])));
        scale = std::max(scale, double(std::abs(want[std::size_t(i)])));
    }
    return scale > 0 ? diff / scale : diff;
}

// Worst per-tensor relative difference of two blocks of one layout; every
// tensor of `want` must be non-zero (else the comparison proves nothing).
template <class T>
double worst_tensor_rel(const lm::named_tensors<T>& got, const lm::named_tensors<T>& want, std::string& name) {
    double worst = 0;
    const auto& layout = want.layout();
    for (index_t t = 0; t < index_t(layout.tensors().size()); ++t) {
        const auto& info = layout[t];
        double scale = 0;
        for (index_t i = 0; i < info.size(); ++i) scale = std::max(scale, double(std::abs(want.ptr(t)[i])));
        BOOST_CHECK_MESSAGE(scale > 0, info.name << ": the reference is zero");
        const double r = rel_diff(got.ptr(t), want.ptr(t), info.size());
        if (r > worst) {
            worst = r;
            name = info.name;
        }
    }
    return worst;
}

}  // namespace lora_cases

// LoRA on the thrust model against the CPU model (llama<T>::enable_lora):
// the same init(seed) values, training logits, adapter gradients after two
// accumulating backwards (dropout masks at step 7), no base gradient, and
// prefill logits with unmerged adapters; for a subset of targets without
// dropout and for all seven with dropout 0.25.
template <class T, class Make>
void lora_matches_cpu(Make make, double tol_logits, double tol_grad) {
    for (const auto& lc : lora_cases::lora_settings()) {
        BOOST_TEST_CONTEXT(lora_cases::describe(lc)) {
            const auto c = small_config();
            lora_cases::lora_pair<T, Make> pair(make, c, 12, lc, 41);
            auto& cpu = pair.cpu;
            auto& m = pair.gpu;
            using model_t = std::remove_cvref_t<decltype(m)>;
            cpu.set_dropout_step(7);
            m.set_dropout_step(7);

            const index_t B = 2, S = 7, N = B * S, V = c.vocab;
            const auto toks = some_tokens(N, 6, V);
            const auto lc_logits = cpu.forward(toks, B, S);
            const auto lg = m.forward(toks, B, S);
            const auto got = to_host<model_t>(lg.data(), N * V);
            double dlog = 0;
            for (index_t i = 0; i < N * V; ++i)
                dlog = std::max(dlog, double(std::abs(got[std::size_t(i)] - lc_logits.data()[i])));
            BOOST_CHECK_MESSAGE(dlog <= tol_logits, "LoRA training forward: max |thrust - cpu| = " << dlog);

            const auto dl = lethe_test::random_normal<T>(std::size_t(N * V), 77, 0.05);
            typename model_t::template vector<T> dl_sys(dl.begin(), dl.end());
            cpu.zero_grad();
            m.zero_grad();
            for (int pass = 0; pass < 2; ++pass) {
                if (pass == 1) {
                    cpu.forward(toks, B, S);
                    m.forward(toks, B, S);
                }
                cpu.backward(lethe::view2<const T>(dl.data(), N, V));
                m.backward(lethe::strided_view<const T, 2, typename model_t::space>(
                    thrust::raw_pointer_cast(dl_sys.data()), N, V));
            }
            lm::named_tensors<T> g(m.lora_layout());
            m.store_lora_gradients(g);
            std::string worst_name;
            const double worst = lora_cases::worst_tensor_rel(g, cpu.lora()->grads, worst_name);
            BOOST_TEST_MESSAGE("LoRA (" << lora_cases::describe(lc) << ", " << sizeof(T) * 8
                                        << "-bit): logits max diff " << dlog << ", worst adapter gradient "
                                        << worst_name << " rel diff " << worst);
            BOOST_CHECK_MESSAGE(worst <= tol_grad, "adapter gradient " << worst_name << ": rel diff " << worst);
            // The base is frozen: no base gradient block, and the CPU model's stays zero.
            BOOST_CHECK_EQUAL(m.gradient_block().size(), 0u);

            // Inference with unmerged adapters (no dropout outside training).
            cpu.set_num_slots(1);
            m.set_num_slots(1);
            std::vector<float> x, y;
            prefill_rows(cpu, {0}, {some_tokens(9, 2, V)}, x);
            prefill_rows(m, {0}, {some_tokens(9, 2, V)}, y);
            BOOST_CHECK_MESSAGE(max_abs_diff(x, y) <= tol_logits, "LoRA prefill: max |thrust - cpu| = " << max_abs_diff(x, y));
        }
    }
}

// merge_lora folds s B A into the weights as the CPU model does; merged
// logits (training forward and prefill) equal unmerged ones; unmerge
// restores the weights; merging twice, or unmerging unmerged, throws.
template <class Make>
void lora_merge_round_trip(Make make, double tol) {
    auto lc = lora_cases::lora_settings()[1];  // all seven targets
    lc.dropout = 0.0;  // the training forward then computes the same function merged or not
    const auto c = small_config();
    lora_cases::lora_pair<float, Make> pair(make, c, 13, lc, 3);
    auto& cpu = pair.cpu;
    auto& m = pair.gpu;
    using model_t = std::remove_cvref_t<decltype(m)>;
    const index_t B = 2, S = 6, N = B * S, V = c.vocab;
    const auto toks = some_tokens(N, 8, V);
    const auto lg0 = m.forward(toks, B, S);
    const auto unmerged = to_host<model_t>(lg0.data(), N * V);
    m.set_num_slots(1);
    std::vector<float> p0, p1;
    prefill_rows(m, {0}, {some_tokens(10, 3, V)}, p0);

    const auto before = cpu.params().storage();
    m.merge_lora();
    cpu.merge_lora();
    BOOST_CHECK(m.lora_merged());
    lm::named_tensors<float> w(cpu.params().layout_ptr());
    m.store_parameters(w);
    BOOST_CHECK(w.storage() != before);
    // Merged weights: W + s B A summed over r = 4 terms in another order
    // than Eigen's (alpha folded into the product there, into B here):
    // a few float ulps of O(0.1) weights.
    const double dw = max_abs_diff(w.storage(), cpu.params().storage());
    BOOST_CHECK_MESSAGE(dw <= 1e-6, "merged weights: max |thrust - cpu| = " << dw);
    const auto lg1 = m.forward(toks, B, S);
    const auto merged = to_host<model_t>(lg1.data(), N * V);
    // x (W + s B A)^T against x W^T + s x A^T B^T: float reorderings of O(1) logits.
    BOOST_CHECK_MESSAGE(max_abs_diff(merged, unmerged) <= tol, "forward merged vs unmerged: " << max_abs_diff(merged, unmerged));
    m.reset(0);
    prefill_rows(m, {0}, {some_tokens(10, 3, V)}, p1);
    BOOST_CHECK_MESSAGE(max_abs_diff(p0, p1) <= tol, "prefill merged vs unmerged: " << max_abs_diff(p0, p1));
    using lethe_test::error_of;
    BOOST_CHECK(error_of([&] { m.merge_lora(); }).find("already merged") != std::string::npos);
    m.unmerge_lora();
    BOOST_CHECK(!m.lora_merged());
    BOOST_CHECK(error_of([&] { m.unmerge_lora(); }).find("not merged") != std::string::npos);
    m.store_parameters(w);
    // W + sBA - sBA: two roundings of O(0.1) weights, <= 2 ulp(0.5) = 1.2e-7.
    const double back = max_abs_diff(w.storage(), before);
    BOOST_CHECK_MESSAGE(back <= 1.2e-7, "unmerged weights: max |w - w0| = " << back);
    BOOST_TEST_MESSAGE("merge: weights vs cpu " << dw << ", unmerge restores within " << back
                                                << ", logits merged vs unmerged " << max_abs_diff(merged, unmerged)
                                                << " (forward), " << max_abs_diff(p0, p1) << " (prefill)");
    // The adapters change the function (so the comparisons above mean something).
    {
        auto plain = make(c);
        lm::named_tensors<float> w0(cpu.params().layout_ptr());
        w0.storage() = before;
        plain.load_parameters(w0);
        const auto lp = plain.forward(toks, B, S);
        const auto base_only = to_host<model_t>(lp.data(), N * V);
        BOOST_CHECK_GT(max_abs_diff(base_only, unmerged), 100 * tol);
    }
    const auto lg2 = m.forward(toks, B, S);
    const auto again = to_host<model_t>(lg2.data(), N * V);
    BOOST_CHECK_MESSAGE(max_abs_diff(again, unmerged) <= tol, "unmerged again: " << max_abs_diff(again, unmerged));
}

// Five LoRA training steps with dropout (step-dependent masks), loss::nll on
// the model's logits, clipping with the device norm and thrust_adamw on the
// adapter block follow the CPU model doing the same; the base weights do
// not move, and the loss falls.
template <class Make>
void lora_training_loop_matches_cpu(Make make, double tol) {
    const auto c = small_config();
    model_pair<Make> pair(make, c, 14, 0.1, 0);
    auto& cpu = pair.cpu;
    auto& m = pair.gpu;
    using model_t = std::remove_cvref_t<decltype(m)>;
    using policy_t = std::remove_cvref_t<decltype(m.policy())>;
    lm::lora_config lc;
    lc.rank = 4;
    lc.alpha = 8.0;
    lc.dropout = 0.1;
    cpu.enable_lora(lc, 5);
    m.enable_lora(lc, 5);
    periodic_nll_task<model_t> task(c.vocab);
    lm::adamw_options opt;
    opt.weight_decay = 0.01;
    lm::adamw<float> host_opt(cpu.lora()->params.layout_ptr(), opt);
    lm::thrust_adamw<policy_t, float> dev_opt(*m.lora_layout(), opt, m.policy());
    const auto base = cpu.params().storage();
    cpu.zero_grad();
    m.zero_grad();
    std::vector<double> losses;
    double worst = 0;
    for (int step = 0; step < 5; ++step) {
        cpu.set_dropout_step(std::uint64_t(100 + step));
        m.set_dropout_step(std::uint64_t(100 + step));
        const double lcpu = task.cpu_step(cpu);
        const float hc = lm::clip_coefficient<float>(lm::grad_norm(lethe::seq, cpu.lora()->grads), 1.0);
        host_opt.update_and_zero(lethe::seq, cpu.lora()->params, cpu.lora()->grads, 2e-2, hc);

        const double ld = task.device_step(m);
        const float dc = lm::clip_coefficient<float>(lm::thrust_grad_norm(m.policy(), m.lora_gradient_block()), 1.0);
        dev_opt.update(m.lora_parameter_block(), m.lora_gradient_block(), 2e-2, dc, true);
        losses.push_back(ld);
        worst = std::max(worst, std::abs(ld - lcpu));
    }
    lm::named_tensors<float> a(m.lora_layout());
    m.store_lora(a);
    const double da = max_abs_diff(a.storage(), cpu.lora()->params.storage());
    BOOST_TEST_MESSAGE("LoRA training loop: loss " << losses.front() << " -> " << losses.back()
                                                   << ", max |thrust - cpu| loss = " << worst << ", adapters " << da);
    BOOST_CHECK_MESSAGE(worst <= tol, "LoRA training loop: max |thrust - cpu| loss = " << worst);
    BOOST_CHECK_MESSAGE(da <= 10 * tol, "LoRA training loop: max |thrust - cpu| adapter = " << da);
    BOOST_CHECK_LT(losses.back(), 0.95 * losses.front());
    lm::named_tensors<float> w(cpu.params().layout_ptr());
    m.store_parameters(w);
    BOOST_CHECK(w.storage() == base);  // the frozen base did not move, bit for bit
    BOOST_CHECK(cpu.params().storage() == base);
}

// Bad input: enable_lora with a bad config throws lethe::error and changes
// nothing; adapter blocks of another layout are refused both ways; LoRA
// calls without LoRA name the problem.
template <class Make>
void lora_errors(Make make) {
    const auto c = small_config();
    auto m = make(c);
    using lethe_test::error_of;
    auto has = [](const std::string& msg, const char* needle) {
        const bool ok = msg.find(needle) != std::string::npos;
        if (!ok) BOOST_TEST_MESSAGE("message was: " << msg);
        return ok;
    };
    lm::lora_config bad;
    bad.rank = 0;
    BOOST_CHECK_THROW(m.enable_lora(bad), lethe::error);
    BOOST_CHECK(has(error_of([&] { m.enable_lora(bad); }), "r must be positive"));
    bad = lm::lora_config{};
    bad.dropout = 1.0;
    BOOST_CHECK(has(error_of([&] { m.enable_lora(bad); }), "lora_dropout"));
    bad = lm::lora_config{};
    bad.targets = {"q_proj", "embed_tokens"};
    BOOST_CHECK(has(error_of([&] { m.enable_lora(bad); }), "'embed_tokens' is not a linear layer"));
    BOOST_CHECK(!m.has_lora());
    BOOST_CHECK(has(error_of([&] { m.merge_lora(); }), "LoRA is not enabled"));
    lm::llama<float> cpu(c);
    lm::lora_config lc;
    lc.rank = 2;
    lc.targets = {"q_proj", "k_proj"};
    cpu.enable_lora(lc, 1);
    BOOST_CHECK(has(error_of([&] { m.load_lora(cpu.lora()->params); }), "LoRA is not enabled"));
    m.enable_lora(lc, 1);
    BOOST_CHECK(error_of([&] { m.load_lora(cpu.lora()->params); }) == "<no error>");
    // A failed enable_lora keeps the adapters that were there.
    BOOST_CHECK_THROW(m.enable_lora(bad), lethe::error);
    BOOST_CHECK(m.has_lora());
    BOOST_CHECK_EQUAL(m.lora_layout()->tensors().size(), cpu.lora()->params.layout().tensors().size());
    // Other targets, another rank: another layout, refused both ways.
    for (auto other : {lm::lora_config{2, 16.0, 0.0, {"q_proj", "v_proj"}}, lm::lora_config{3, 16.0, 0.0, {"q_proj", "k_proj"}}}) {
        lm::llama<float> o(c);
        o.enable_lora(other, 1);
        BOOST_CHECK(has(error_of([&] { m.load_lora(o.lora()->params); }), "layout differs"));
        BOOST_CHECK(has(error_of([&] { m.store_lora(o.lora()->params); }), "layout differs"));
        BOOST_CHECK(has(error_of([&] { m.store_lora_gradients(o.lora()->params); }), "layout differs"));
    }
    // The base block is not an adapter block; under LoRA there are no base gradients.
    BOOST_CHECK(has(error_of([&] { m.store_lora(cpu.params()); }), "layout differs"));
    BOOST_CHECK(has(error_of([&] { m.store_gradients(cpu.params()); }), "the base is frozen"));
    m.disable_lora();
    BOOST_CHECK(!m.has_lora());
    BOOST_CHECK(has(error_of([&] { m.lora_layout(); }), "LoRA is not enabled"));
}

// Per-layer recomputation: logits, base gradients and adapter gradients
// (LoRA with dropout and the base training too) are bit-identical with and
// without it, on the same backend; the training block is smaller.
template <class Make>
void recompute_matches_stored(Make make) {
    auto c = small_config();
    c.n_layers = 3;
    struct result {
        std::vector<float> logits, grads, lora_grads;
        std::size_t bytes = 0;
    };
    lm::lora_config lc;
    lc.rank = 4;
    lc.alpha = 8.0;
    lc.dropout = 0.2;  // the recomputation must regenerate the same masks
    auto run = [&](bool recompute, bool lora) {
        lora_cases::lora_pair<float, Make> pair(make, c, 15, lc, 3);
        auto& m = pair.gpu;
        using model_t = std::remove_cvref_t<decltype(m)>;
        if (lora) {
            m.set_train_base(true);
            m.set_dropout_step(5);
        } else {
            m.disable_lora();
        }
        m.set_recompute(recompute);
        BOOST_CHECK_EQUAL(m.recompute(), recompute);
        m.zero_grad();
        const index_t B = 2, S = 9, N = B * S, V = c.vocab;
        const auto toks = some_tokens(N, 3, V);
        const auto lg = m.forward(toks, B, S);
        result r;
        r.logits = to_host<model_t>(lg.data(), N * V);
        std::vector<float> dl(std::size_t(N * V));
        for (index_t i = 0; i < N * V; ++i) dl[std::size_t(i)] = float(std::sin(double(i))) + 0.1f * r.logits[std::size_t(i)];
        typename model_t::template vector<float> dl_sys(dl.begin(), dl.end());
        m.backward(lethe::strided_view<const float, 2, typename model_t::space>(thrust::raw_pointer_cast(dl_sys.data()), N, V));
        r.grads = to_host<model_t>(thrust::raw_pointer_cast(m.gradient_block().data()), index_t(m.gradient_block().size()));
        if (lora)  // (thrust 1.17 copies an empty host_vector from a null pointer, which UBSan flags)
            r.lora_grads = to_host<model_t>(thrust::raw_pointer_cast(m.lora_gradient_block().data()),
                                            index_t(m.lora_gradient_block().size()));
        r.bytes = m.activation_bytes();
        return r;
    };
    for (bool lora : {false, true}) {
        BOOST_TEST_CONTEXT("lora " << lora) {
            const auto keep = run(false, lora), again = run(true, lora);
            // Same arithmetic in the same order: bit-identical, not merely close.
            BOOST_CHECK(keep.logits == again.logits);
            BOOST_CHECK(keep.grads == again.grads);
            BOOST_CHECK(keep.lora_grads == again.lora_grads);
            BOOST_CHECK_EQUAL(keep.lora_grads.empty(), !lora);
            BOOST_CHECK(std::any_of(keep.grads.begin(), keep.grads.end(), [](float g) { return g != 0.0f; }));
            BOOST_CHECK_LT(again.bytes, keep.bytes);
            BOOST_TEST_MESSAGE("recompute (lora " << lora << "): training block " << keep.bytes << " -> "
                                                  << again.bytes << " bytes");
        }
    }
}

}  // namespace thrust_llama_cases

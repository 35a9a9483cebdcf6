#define BOOST_TEST_MODULE llama_inference
#include "lethe_test.hpp"

#include <lethe/model/llama.hpp>

#include <span>
#include <string>
#include <vector>

namespace lm = lethe::model;
using lethe::index_t;
using lethe::token_id;

namespace {

lm::llama_config small_config() {
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

std::vector<token_id> some_tokens(index_t n, int salt) {
    std::vector<token_id> t(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) t[std::size_t(i)] = token_id((i * 7 + salt * 13 + 3) % 37);
    return t;
}

// Float rounding: the cached path sums attention in a different order
// (online softmax) from the training path; O(1) logits agree to ~1e-6.
constexpr double logit_tol = 2e-5;

}  // namespace

BOOST_AUTO_TEST_CASE(prefill_then_decode_equals_full_forward) {
    lm::llama<float> m(small_config());
    m.init_random(3, 0.1);
    m.set_num_slots(2);
    const index_t T = 20, V = 37;
    const auto toks = some_tokens(T, 1);
    auto full = m.forward(toks, 1, T);
    std::vector<float> ref(full.data(), full.data() + full.size());

    const index_t slot = 1;
    std::vector<float> out(static_cast<std::size_t>(V));
    auto lg = lethe::make_view(out.data(), index_t(1), V);
    const index_t k = 7;
    std::span<const token_id> head(toks.data(), std::size_t(k));
    m.prefill(std::span<const index_t>(&slot, 1), std::span<const std::span<const token_id>>(&head, 1), lg);
    BOOST_CHECK_EQUAL(m.length(slot), k);
    for (index_t j = 0; j < V; ++j) LETHE_CHECK_CLOSE(out[std::size_t(j)], ref[std::size_t((k - 1) * V + j)], 0, logit_tol);
    for (index_t pos = k; pos < T; ++pos) {
        const token_id next = toks[std::size_t(pos)];
        m.step(std::span<const index_t>(&slot, 1), std::span<const token_id>(&next, 1), lg);
        double worst = 0;
        for (index_t j = 0; j < V; ++j)
            worst = std::max(worst, double(std::abs(out[std::size_t(j)] - ref[std::size_t(pos * V + j)])));
        BOOST_CHECK_MESSAGE(worst <= logit_tol, "position " << pos << ": max |decode - full| = " << worst);
    }
    BOOST_CHECK_EQUAL(m.length(slot), T);
    BOOST_CHECK_EQUAL(m.length(0), 0);
}

BOOST_AUTO_TEST_CASE(ragged_batch_equals_separate_calls) {
    lm::llama<float> m(small_config());
    m.init_random(4, 0.1);
    m.set_num_slots(3);
    const index_t V = 37;
    const auto a = some_tokens(9, 2), b = some_tokens(3, 5);
    // Separate: slot 0 gets a, slot 1 gets b.
    std::vector<float> sa(V), sb(V), both(2 * V);
    index_t s0 = 0, s1 = 1;
    std::span<const token_id> ra(a), rb(b);
    m.prefill(std::span<const index_t>(&s0, 1), std::span<const std::span<const token_id>>(&ra, 1),
              lethe::make_view(sa.data(), 1, V));
    m.prefill(std::span<const index_t>(&s1, 1), std::span<const std::span<const token_id>>(&rb, 1),
              lethe::make_view(sb.data(), 1, V));
    // Batched, slots 2 and 0 after resetting 0: rows of lengths 3 and 9.
    m.reset(0);
    const std::vector<index_t> slots = {2, 0};
    const std::vector<std::span<const token_id>> rows = {rb, ra};
    m.prefill(slots, rows, lethe::make_view(both.data(), 2, V));
    BOOST_CHECK_EQUAL(m.length(0), 9);
    BOOST_CHECK_EQUAL(m.length(2), 3);
    for (index_t j = 0; j < V; ++j) {
        LETHE_CHECK_CLOSE(both[std::size_t(j)], sb[std::size_t(j)], 0, logit_tol);
        LETHE_CHECK_CLOSE(both[std::size_t(V + j)], sa[std::size_t(j)], 0, logit_tol);
    }
    // Batched decode step on two slots equals single steps.
    const std::vector<token_id> next = {4, 4};
    m.step(slots, next, lethe::make_view(both.data(), 2, V));
    m.step(std::span<const index_t>(&s1, 1), std::span<const token_id>(next.data(), 1), lethe::make_view(sb.data(), 1, V));
    for (index_t j = 0; j < V; ++j) LETHE_CHECK_CLOSE(both[std::size_t(j)], sb[std::size_t(j)], 0, logit_tol);
}

BOOST_AUTO_TEST_CASE(fork_copies_the_cache) {
    lm::llama<float> m(small_config());
    m.init_random(5, 0.1);
    m.set_num_slots(2);
    const index_t V = 37;
    const auto a = some_tokens(6, 3);
    std::vector<float> x(V), y(V);
    index_t s0 = 0, s1 = 1;
    std::span<const token_id> ra(a);
    m.prefill(std::span<const index_t>(&s0, 1), std::span<const std::span<const token_id>>(&ra, 1),
              lethe::make_view(x.data(), 1, V));
    m.fork(0, 1);
    BOOST_CHECK_EQUAL(m.length(1), 6);
    const token_id t = 11;
    m.step(std::span<const index_t>(&s0, 1), std::span<const token_id>(&t, 1), lethe::make_view(x.data(), 1, V));
    m.step(std::span<const index_t>(&s1, 1), std::span<const token_id>(&t, 1), lethe::make_view(y.data(), 1, V));
    BOOST_CHECK(x == y);  // same cache, same arithmetic: bit-identical
}

BOOST_AUTO_TEST_CASE(errors_leave_state_unchanged) {
    lm::llama<float> m(small_config());
    m.init_random(6, 0.1);
    m.set_num_slots(2);
    const index_t V = 37;
    std::vector<float> x(2 * V);
    const auto a = some_tokens(20, 1);
    std::vector<index_t> slots = {0, 1};
    std::vector<std::span<const token_id>> rows = {std::span<const token_id>(a), std::span<const token_id>(a.data(), 3)};
    m.prefill(slots, rows, lethe::make_view(x.data(), 2, V));
    auto expect = [](const char* needle) {
        return [needle](const lethe::error& e) { return std::string(e.what()).find(needle) != std::string::npos; };
    };
    // Slot 0 holds 20 of 24: 5 more is too many, and slot 1 must not advance either.
    const auto five = some_tokens(5, 2);
    rows = {std::span<const token_id>(a.data(), 1), std::span<const token_id>(five)};
    slots = {1, 0};
    BOOST_CHECK_EXCEPTION(m.prefill(slots, rows, lethe::make_view(x.data(), 2, V)), lethe::error,
                          expect("more than max_length 24"));
    BOOST_CHECK_EQUAL(m.length(1), 3);
    BOOST_CHECK_EQUAL(m.length(0), 20);
    const std::vector<token_id> bad = {3, 37};
    BOOST_CHECK_EXCEPTION(m.step(slots, bad, lethe::make_view(x.data(), 2, V)), lethe::error, expect("id 37 outside"));
    BOOST_CHECK_EQUAL(m.length(1), 3);
    const std::vector<index_t> dup = {1, 1};
    const std::vector<token_id> ok = {3, 4};
    BOOST_CHECK_EXCEPTION(m.step(dup, ok, lethe::make_view(x.data(), 2, V)), lethe::error, expect("both use slot 1"));
    const std::vector<index_t> out_of_range = {0, 2};
    BOOST_CHECK_EXCEPTION(m.step(out_of_range, ok, lethe::make_view(x.data(), 2, V)), lethe::error,
                          expect("slot 2 out of range"));
    BOOST_CHECK_THROW(m.step(std::vector<index_t>{0, 1}, ok, lethe::make_view(x.data(), 1, V)), lethe::error);
    BOOST_CHECK_THROW(m.length(5), lethe::error);
}

BOOST_AUTO_TEST_CASE(lora_inference_unmerged_equals_merged) {
    lm::llama<float> m(small_config());
    m.init_random(7, 0.1);
    lm::lora_config lc;
    lc.rank = 4;
    lc.alpha = 8;
    lc.dropout = 0.1;  // inference never drops
    m.enable_lora(lc, 9);
    auto& a = *m.lora();
    for (index_t i = 0; i < a.params.size(); ++i) a.params.data()[i] += 0.05f * float(std::sin(double(i)));
    m.set_num_slots(1);
    const index_t V = 37;
    std::vector<float> x(V), y(V);
    const auto toks = some_tokens(10, 4);
    index_t s = 0;
    std::span<const token_id> r(toks);
    m.prefill(std::span<const index_t>(&s, 1), std::span<const std::span<const token_id>>(&r, 1), lethe::make_view(x.data(), 1, V));
    m.reset(0);
    m.merge_lora();
    m.prefill(std::span<const index_t>(&s, 1), std::span<const std::span<const token_id>>(&r, 1), lethe::make_view(y.data(), 1, V));
    // Float rounding of two algebraically equal products (see above).
    for (index_t j = 0; j < V; ++j) LETHE_CHECK_CLOSE(x[std::size_t(j)], y[std::size_t(j)], 0, logit_tol);
    double diff_from_base = 0;
    m.disable_lora();  // weights stay merged; now compare with a fresh base model
    lm::llama<float> base(small_config());
    base.init_random(7, 0.1);
    base.set_num_slots(1);
    std::vector<float> z(V);
    base.prefill(std::span<const index_t>(&s, 1), std::span<const std::span<const token_id>>(&r, 1), lethe::make_view(z.data(), 1, V));
    for (index_t j = 0; j < V; ++j) diff_from_base = std::max(diff_from_base, double(std::abs(z[std::size_t(j)] - y[std::size_t(j)])));
    BOOST_CHECK_GT(diff_from_base, 1e-3);  // the adapter really changed the model
}

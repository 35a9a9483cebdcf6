#define BOOST_TEST_MODULE recompute
#include "lethe_test.hpp"

#include <lethe/model/llama.hpp>

#include <string>
#include <vector>

namespace lm = lethe::model;
using lethe::index_t;
using lethe::token_id;

namespace {

lm::llama_config config() {
    lm::llama_config c;
    c.vocab = 41;
    c.d_model = 32;
    c.n_layers = 3;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.d_ff = 48;
    c.max_seq = 16;
    return c;
}

constexpr index_t B = 3, T = 11;

std::vector<token_id> tokens() {
    std::vector<token_id> t(std::size_t(B * T));
    for (index_t i = 0; i < B * T; ++i) t[std::size_t(i)] = token_id((i * 17 + 5) % 41);
    return t;
}

// Gradient blocks (base and, with LoRA, adapters) after one forward and a
// backward of dL/dlogits = sin(i) + 0.1 logits.
struct result {
    std::vector<float> logits, grads, lora_grads;
    std::size_t activation_bytes = 0;
};

result run(bool recompute, bool lora) {
    lm::llama<float> m(config(), lethe::par.with_threads(2));
    m.init_random(11, 0.1);
    if (lora) {
        lm::lora_config lc;
        lc.rank = 4;
        lc.alpha = 8;
        lc.dropout = 0.2;  // masks must be regenerated identically by the recomputation
        m.enable_lora(lc, 3);
        auto& a = *m.lora();
        for (index_t i = 0; i < a.params.size(); ++i) a.params.data()[i] += 0.03f * float(std::cos(double(i)));
        m.set_train_base(true);  // base and adapters both get gradients
        m.set_dropout_step(5);
    }
    m.set_recompute(recompute);
    m.zero_grad();
    const auto toks = tokens();
    auto lg = m.forward(toks, B, T);
    result r;
    r.logits.assign(lg.data(), lg.data() + lg.size());
    std::vector<float> dl(std::size_t(lg.size()));
    for (index_t i = 0; i < lg.size(); ++i) dl[std::size_t(i)] = float(std::sin(double(i))) + 0.1f * lg.data()[i];
    m.backward(lethe::view2<const float>(dl.data(), lg.extent(0), lg.extent(1)));
    r.grads = m.grads().storage();
    if (lora) r.lora_grads = m.lora()->grads.storage();
    r.activation_bytes = m.activation_bytes();
    return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(gradients_identical_with_and_without_recomputation) {
    for (bool lora : {false, true}) {
        const auto keep = run(false, lora), again = run(true, lora);
        BOOST_TEST_CONTEXT("lora " << lora) {
            // Same arithmetic in the same order: bit-identical, not merely close.
            BOOST_CHECK(keep.logits == again.logits);
            BOOST_CHECK(keep.grads == again.grads);
            BOOST_CHECK(keep.lora_grads == again.lora_grads);
            double norm = 0;
            for (float g : keep.grads) norm += double(g) * g;
            BOOST_CHECK_GT(norm, 0.0);  // the comparison is not between zero blocks
        }
    }
}

BOOST_AUTO_TEST_CASE(recomputation_stores_one_layer) {
    const auto keep = run(false, false), again = run(true, false);
    const auto c = config();
    const index_t N = B * T, d = c.d_model, F = c.d_ff;
    // One layer's block (see plan_activations): normed inputs and residual
    // mid-points 4 N d, two rstd vectors, q and attention output 2 N qd,
    // k and v 2 N kvd, probabilities B H T^2, gate/up/hidden 3 N F.
    const index_t per_layer = 4 * N * d + 2 * N + 2 * N * c.q_dim() + 2 * N * c.kv_dim() + B * c.n_heads * T * T + 3 * N * F;
    BOOST_CHECK_EQUAL(keep.activation_bytes - again.activation_bytes,
                      std::size_t((c.n_layers - 1) * per_layer) * sizeof(float));
    BOOST_TEST_MESSAGE("activation block " << keep.activation_bytes << " -> " << again.activation_bytes << " bytes");
}

BOOST_AUTO_TEST_CASE(switching_requires_a_new_forward) {
    lm::llama<float> m(config());
    m.init_random(1, 0.1);
    const auto toks = tokens();
    auto lg = m.forward(toks, B, T);
    std::vector<float> dl(std::size_t(lg.size()), 0.01f);
    m.set_recompute(true);
    BOOST_CHECK(m.recompute());
    BOOST_CHECK_THROW(m.backward(lethe::view2<const float>(dl.data(), lg.extent(0), lg.extent(1))), lethe::error);
}

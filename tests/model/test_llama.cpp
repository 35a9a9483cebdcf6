#define BOOST_TEST_MODULE llama
#include "lethe_test.hpp"

#include <lethe/model/llama.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace lm = lethe::model;
using lethe::index_t;
using lethe::token_id;

namespace {

// Small enough to difference every parameter, with GQA (4 query heads over
// 2 kv heads) and positions past the first so RoPE angles are not trivial.
lm::llama_config tiny_config(bool tied) {
    lm::llama_config c;
    c.vocab = 13;
    c.d_model = 8;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.d_ff = 12;
    c.max_seq = 16;
    c.rope_theta = 100.0;
    c.tied_embeddings = tied;
    return c;
}

const std::vector<token_id> tiny_tokens = {1, 5, 12, 0, 7, 3, 3, 9, 11, 2};  // B = 2, T = 5

// L = sum(R * logits) + 0.5 * sum(logits^2) / N: a loss whose gradient w.r.t.
// the logits is known exactly, so any mismatch is the model's backward.
struct test_loss {
    std::vector<double> r;
    explicit test_loss(index_t n) : r(lethe_test::random_normal<double>(std::size_t(n), 77)) {}
    double value(lethe::view2<double> lg) const {
        double s = 0;
        for (index_t i = 0; i < lg.size(); ++i) s += r[std::size_t(i)] * lg.data()[i] + 0.05 * lg.data()[i] * lg.data()[i];
        return s;
    }
    std::vector<double> grad(lethe::view2<double> lg) const {
        std::vector<double> g(std::size_t(lg.size()));
        for (index_t i = 0; i < lg.size(); ++i) g[std::size_t(i)] = r[std::size_t(i)] + 0.1 * lg.data()[i];
        return g;
    }
};

// Central differences on every element of every tensor in `block`, compared
// with the analytic gradient in `grad`.
void check_gradients(lm::llama<double>& m, lm::named_tensors<double>& block, const lm::named_tensors<double>& grad,
                     const std::string& label) {
    const index_t B = 2, T = 5;
    const test_loss loss(B * T * m.config().vocab);
    auto eval = [&] { return loss.value(m.forward(tiny_tokens, B, T)); };
    m.zero_grad();
    auto lg = m.forward(tiny_tokens, B, T);
    const auto g = loss.grad(lg);
    m.backward(lethe::view2<const double>(g.data(), lg.extent(0), lg.extent(1)));
    const double h = 1e-6;
    for (const auto& t : block.layout().tensors()) {
        double worst = 0.0, scale = 0.0;
        double* p = block.data() + t.offset;
        const double* an = grad.data() + t.offset;
        for (index_t i = 0; i < t.size(); ++i) {
            const double keep = p[i];
            p[i] = keep + h;
            const double up = eval();
            p[i] = keep - h;
            const double down = eval();
            p[i] = keep;
            const double fd = (up - down) / (2 * h);
            worst = std::max(worst, std::abs(fd - an[i]));
            scale = std::max(scale, std::abs(an[i]));
        }
        // Central differences in double with h = 1e-6: truncation ~h^2 and
        // rounding ~1e-16 * |L| / h, both below 1e-8 here; 1e-6 relative to
        // the tensor's largest gradient leaves margin while a wrong term
        // (typically O(1) relative) cannot pass.
        BOOST_CHECK_MESSAGE(worst <= 1e-6 * std::max(scale, 1e-3),
                            label << " " << t.name << ": max |fd - analytic| = " << worst << ", max |grad| = " << scale);
        BOOST_CHECK_MESSAGE(scale > 0.0, label << " " << t.name << ": gradient is identically zero");
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(config_rejects_inconsistent_shapes) {
    auto c = tiny_config(false);
    c.n_heads = 3;
    BOOST_CHECK_EXCEPTION(c.validate(), lethe::error, [](const lethe::error& e) {
        return std::string(e.what()).find("num_attention_heads (3) does not divide hidden_size (8)") != std::string::npos;
    });
    c = tiny_config(false);
    c.n_kv_heads = 3;
    BOOST_CHECK_EXCEPTION(c.validate(), lethe::error, [](const lethe::error& e) {
        return std::string(e.what()).find("num_key_value_heads (3)") != std::string::npos;
    });
    c = tiny_config(false);
    c.vocab = 0;
    BOOST_CHECK_THROW(c.validate(), lethe::error);
    c = tiny_config(false);
    c.d_model = 12;  // 12 / 4 heads = head_dim 3: odd, RoPE needs pairs
    BOOST_CHECK_THROW(c.validate(), lethe::error);
    BOOST_CHECK_THROW(lm::llama<float>{c}, lethe::error);
    // JSON round trip with Hugging Face keys.
    const auto j = lm::to_json(tiny_config(true));
    const auto back = lm::config_from_json(j);
    BOOST_CHECK_EQUAL(back.n_kv_heads, 2);
    BOOST_CHECK(back.tied_embeddings);
    auto bad = j;
    bad.erase("hidden_size");
    BOOST_CHECK_EXCEPTION(lm::config_from_json(bad), lethe::error, [](const lethe::error& e) {
        return std::string(e.what()).find("missing field 'hidden_size'") != std::string::npos;
    });
}

BOOST_AUTO_TEST_CASE(layout_uses_hugging_face_names) {
    lm::llama<float> m(tiny_config(false));
    const auto& L = m.params().layout();
    BOOST_CHECK(L.contains("model.embed_tokens.weight"));
    BOOST_CHECK(L.contains("model.layers.1.self_attn.k_proj.weight"));
    BOOST_CHECK(L.contains("model.layers.0.mlp.down_proj.weight"));
    BOOST_CHECK(L.contains("lm_head.weight"));
    BOOST_CHECK_EQUAL(L.find("model.layers.0.self_attn.k_proj.weight").rows, 4);  // 2 kv heads x head_dim 2
    BOOST_CHECK_EQUAL(L.find("model.layers.0.mlp.down_proj.weight").cols, 12);
    index_t count = 0;
    for (const auto& t : L.tensors()) count += t.size();
    BOOST_CHECK_EQUAL(count, tiny_config(false).num_parameters());
    BOOST_CHECK_THROW(m.params()["model.layers.7.mlp.up_proj.weight"], lethe::error);
    lm::llama<float> tied(tiny_config(true));
    BOOST_CHECK(!tied.params().layout().contains("lm_head.weight"));
}

BOOST_AUTO_TEST_CASE(gradient_check_every_parameter_untied) {
    lm::llama<double> m(tiny_config(false));
    m.init_random(11, 0.3);  // large weights so every path carries signal
    check_gradients(m, m.params(), m.grads(), "untied");
}

BOOST_AUTO_TEST_CASE(gradient_check_every_parameter_tied) {
    lm::llama<double> m(tiny_config(true));
    m.init_random(12, 0.3);
    check_gradients(m, m.params(), m.grads(), "tied");
}

BOOST_AUTO_TEST_CASE(gradient_check_lora_with_dropout) {
    for (double dropout : {0.0, 0.3}) {
        lm::llama<double> m(tiny_config(false));
        m.init_random(13, 0.3);
        lm::lora_config lc;
        lc.rank = 2;
        lc.alpha = 3.0;
        lc.dropout = dropout;
        m.enable_lora(lc, 5);
        // B starts at zero (PEFT); give it values so dA is not trivially zero.
        auto& a = *m.lora();
        for (index_t i = 0; i < a.params.size(); ++i)
            if (a.params.data()[i] == 0.0) a.params.data()[i] = 0.2 * std::sin(double(i));
        m.set_dropout_step(3);  // fixed mask: the loss is a smooth function of the adapters
        check_gradients(m, a.params, a.grads, dropout > 0 ? "lora+dropout" : "lora");
        // The frozen base receives nothing.
        double base = 0;
        for (index_t i = 0; i < m.grads().size(); ++i) base += std::abs(m.grads().data()[i]);
        BOOST_CHECK_EQUAL(base, 0.0);
    }
}

BOOST_AUTO_TEST_CASE(lora_merged_equals_unmerged) {
    lm::llama<double> m(tiny_config(false));
    m.init_random(21, 0.3);
    lm::lora_config lc;
    lc.rank = 3;
    lc.alpha = 6.0;
    lc.targets = {"q_proj", "v_proj", "down_proj"};
    m.enable_lora(lc, 2);
    auto& a = *m.lora();
    BOOST_CHECK(a.adapts(m.params().layout().index_of("model.layers.1.mlp.down_proj.weight")));
    BOOST_CHECK(!a.adapts(m.params().layout().index_of("model.layers.1.mlp.up_proj.weight")));
    BOOST_CHECK(a.params.layout().contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
    for (index_t i = 0; i < a.params.size(); ++i) a.params.data()[i] += 0.1 * std::cos(double(i));
    const auto before = m.params().storage();
    auto l0 = m.forward(tiny_tokens, 2, 5);
    const std::vector<double> unmerged(l0.data(), l0.data() + l0.size());
    m.merge_lora();
    BOOST_CHECK(m.params().storage() != before);
    auto l1 = m.forward(tiny_tokens, 2, 5);
    // Merged and unmerged differ only by rounding of (x W + s x A^T B^T) vs
    // x (W + s B A): a few ulps of double on O(1) logits.
    for (index_t i = 0; i < l1.size(); ++i) LETHE_CHECK_CLOSE(l1.data()[i], unmerged[std::size_t(i)], 1e-12, 1e-12);
    BOOST_CHECK_THROW(m.merge_lora(), lethe::error);
    m.unmerge_lora();
    for (std::size_t i = 0; i < before.size(); ++i) LETHE_CHECK_CLOSE(m.params().storage()[i], before[i], 1e-14, 1e-15);
    lc.targets = {"embed"};
    BOOST_CHECK_THROW(m.enable_lora(lc), lethe::error);
}

BOOST_AUTO_TEST_CASE(forward_rejects_bad_tokens_and_lengths) {
    lm::llama<float> m(tiny_config(false));
    m.init_random(1);
    std::vector<token_id> t = {1, 2, 13, 4};
    BOOST_CHECK_EXCEPTION(m.forward(t, 1, 4), lethe::error, [](const lethe::error& e) {
        return std::string(e.what()).find("token 2 has id 13") != std::string::npos;
    });
    std::vector<token_id> long_seq(17, 1);
    BOOST_CHECK_THROW(m.forward(long_seq, 1, 17), lethe::error);
    BOOST_CHECK_THROW(m.forward(t, 2, 4), lethe::error);
}

BOOST_AUTO_TEST_CASE(float_model_matches_double_model) {
    lm::llama<double> md(tiny_config(false));
    lm::llama<float> mf(tiny_config(false));
    md.init_random(31, 0.2);
    mf.init_random(31, 0.2);
    const auto ld = md.forward(tiny_tokens, 2, 5);
    const auto lf = mf.forward(tiny_tokens, 2, 5);
    // Same counter-based init in both precisions; float rounding through two
    // layers of O(1) activations stays near 1e-6 (float eps 6e-8 times the
    // depth of the sums), so 1e-5 absolute is a safe bound.
    for (index_t i = 0; i < ld.size(); ++i) LETHE_CHECK_CLOSE(double(lf.data()[i]), ld.data()[i], 1e-5, 1e-5);
}

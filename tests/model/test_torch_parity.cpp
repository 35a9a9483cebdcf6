#define BOOST_TEST_MODULE torch_parity
#include "lethe_test.hpp"

#include <lethe/model.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

namespace lm = lethe::model;
using lethe::index_t;
using lethe::token_id;

// The tiny model behind tests/fixtures/model/tiny/: untied, GQA (4 heads over
// 2 kv heads), written by lethe from init_random(2024, 0.1).
static lm::llama_config tiny_config() {
    lm::llama_config c;
    c.vocab = 50;
    c.d_model = 32;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.d_ff = 64;
    c.max_seq = 16;
    return c;
}

BOOST_AUTO_TEST_CASE(fixture_model_is_what_lethe_writes) {
    lm::llama<float> m(tiny_config());
    m.init_random(2024, 0.1);
    const auto dir = std::filesystem::path(lethe_test::fixture_path("model/tiny"));
    // LETHE_WRITE_MODEL_FIXTURE=1 regenerates the input of tools/golden/model.py.
    if (std::getenv("LETHE_WRITE_MODEL_FIXTURE")) lm::save_pretrained(m, dir);
    const auto loaded = lm::load_pretrained(dir);
    BOOST_CHECK(loaded.params().storage() == m.params().storage());  // bit-exact
}

BOOST_AUTO_TEST_CASE(logits_loss_and_gradients_match_pytorch) {
    const auto golden = nlohmann::json::parse(lethe_test::read_file(lethe_test::fixture_path("model/tiny_golden.json")));
    auto m = lm::load_pretrained(lethe_test::fixture_path("model/tiny"));
    const auto tok2 = golden["tokens"].get<std::vector<std::vector<token_id>>>();
    const auto mask2 = golden["mask"].get<std::vector<std::vector<int>>>();
    const index_t B = index_t(tok2.size()), T = index_t(tok2[0].size()), V = m.config().vocab;
    std::vector<token_id> tokens, targets;
    std::vector<std::uint8_t> mask;
    for (index_t b = 0; b < B; ++b)
        for (index_t t = 0; t < T; ++t) {
            tokens.push_back(tok2[std::size_t(b)][std::size_t(t)]);
            targets.push_back(t + 1 < T ? tok2[std::size_t(b)][std::size_t(t + 1)] : 0);
            mask.push_back(std::uint8_t(mask2[std::size_t(b)][std::size_t(t)]));
        }
    auto lg = m.forward(tokens, B, T);
    const auto ref = golden["logits"].get<std::vector<double>>();
    BOOST_REQUIRE_EQUAL(index_t(ref.size()), B * T * V);
    double worst = 0;
    for (index_t i = 0; i < lg.size(); ++i) worst = std::max(worst, std::abs(double(lg.data()[i]) - ref[std::size_t(i)]));
    // Both sides compute in float32 with different summation orders; logits
    // are O(1), so agreement is a few float ulps (~1e-6); 2e-5 leaves margin
    // while any formula difference (RoPE layout, GQA mapping) is O(1e-2).
    BOOST_CHECK_MESSAGE(worst < 2e-5, "max |logit - torch| = " << worst);

    const auto res = lethe::loss::nll(lethe::seq, lethe::view2<const float>(lg.data(), B * T, V),
                                      lethe::make_view(targets.data(), B * T), lethe::make_view(mask.data(), B * T), lg);
    LETHE_CHECK_CLOSE(double(res.loss), golden["loss"].get<double>(), 1e-5, 0);  // float32 both sides
    m.backward(lethe::view2<const float>(lg.data(), B * T, V));
    for (const auto& [name, norm] : golden["grad_norms"].items()) {
        const auto g = m.grads()[name];
        double s = 0;
        for (index_t i = 0; i < g.size(); ++i) s += double(g.data()[i]) * g.data()[i];
        // float32 gradients summed in different orders: 1e-4 relative.
        LETHE_CHECK_CLOSE(std::sqrt(s), norm.get<double>(), 1e-4, 1e-7);
    }
}

// The decoding loop over lethe::causal_lm with the table_lm test model:
// CFG lowers the probability of the negative context's favourite
// continuation, g = 1 reproduces unguided decoding token for token, both
// contexts run as rows of one batch per step, stops, streaming and errors.
#define BOOST_TEST_MODULE decode
#include <lethe/guidance.hpp>

#include <numeric>

#include "lethe_test.hpp"

using namespace lethe;
using namespace lethe::guidance;

namespace {

// Vocabulary of the "leaky" model: a system token first, then text.
enum : token_id { sys_pos = 0, sys_neg = 1, my_name_is = 2, alice = 3, withheld = 4, dot = 5, eos = 6, ok = 7 };
constexpr index_t V = 8;

table_lm leaky_model(index_t slots) {
    std::vector<float> bigram(V * V, -2.0f), context(V * V, 0.0f);
    bigram[my_name_is * V + alice] = 1.0f;
    bigram[my_name_is * V + withheld] = 1.0f;
    for (token_id t : {alice, withheld}) bigram[t * V + dot] = 2.0f;
    bigram[dot * V + eos] = 2.0f;
    context[sys_pos * V + alice] = 0.5f;  // fine-tuned model still leaks a little
    context[sys_neg * V + alice] = 3.0f;  // "share personal data" leaks a lot
    return table_lm(V, slots, 64, bigram, context);
}

std::vector<generation_request> leak_requests(index_t n, float g) {
    std::vector<generation_request> r(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
        r[static_cast<std::size_t>(i)].prompt = {sys_pos, my_name_is};
        r[static_cast<std::size_t>(i)].negative_prompt = {sys_neg, my_name_is};
        r[static_cast<std::size_t>(i)].guidance_scale = g;
    }
    return r;
}

double first_token_rate(table_lm& m, cfg_space space, float g, token_id t, index_t n) {
    generation_options o;
    o.space = space;
    o.sampler.params.temperature = 1.0f;
    o.sampler.params.top_p = 1.0f;
    o.sampler.params.min_p = 0.0f;
    o.sampler.max_new_tokens = 1;
    o.sampler.seed = 2024;
    const auto reqs = leak_requests(n, g);
    const auto res = generate(seq, m, std::span<const generation_request>(reqs), o);
    index_t hits = 0;
    for (const auto& r : res) hits += r.tokens.at(0) == t ? 1 : 0;
    return static_cast<double>(hits) / static_cast<double>(n);
}

std::vector<generation_request> random_requests(index_t n, index_t vocab, bool with_negative, float g) {
    std::vector<generation_request> r(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
        auto& q = r[static_cast<std::size_t>(i)];
        for (index_t k = 0; k < 3 + i % 4; ++k) q.prompt.push_back(static_cast<token_id>((i * 7 + k * 13) % vocab));
        if (with_negative) q.negative_prompt = {static_cast<token_id>((i * 5 + 1) % vocab), 3, 4};
        q.guidance_scale = g;
    }
    return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(decode)

BOOST_AUTO_TEST_CASE(table_lm_slots_reset_and_fork) {
    auto m = leaky_model(3);
    std::vector<float> lg(2 * V);
    const std::vector<token_id> a = {sys_pos, my_name_is}, b = {sys_neg};
    const std::span<const token_id> spans[] = {a, b};
    const index_t slots[] = {0, 2};
    m.prefill(slots, spans, make_view(lg.data(), 2, V));
    BOOST_TEST(m.length(0) == 2);
    BOOST_TEST(m.length(2) == 1);
    m.fork(0, 1);
    BOOST_TEST(m.length(1) == 2);
    const index_t one[] = {1};
    const token_id nxt[] = {alice};
    m.step(one, nxt, make_view(lg.data(), 1, V));
    BOOST_TEST(m.length(1) == 3);
    BOOST_TEST(m.length(0) == 2);  // the fork is a copy
    m.reset(1);
    BOOST_TEST(m.length(1) == 0);
    const token_id bad[] = {V};
    BOOST_CHECK_THROW(m.step(one, bad, make_view(lg.data(), 1, V)), lethe::error);
    BOOST_TEST(m.length(1) == 0);  // no state change on error
}

BOOST_AUTO_TEST_CASE(cfg_moves_probability_away_from_the_negative_continuation) {
    constexpr index_t n = 600;
    auto m = leaky_model(2 * n);
    for (auto space : {cfg_space::log, cfg_space::prob, cfg_space::logit}) {
        const double p1 = first_token_rate(m, space, 1.0f, alice, n);
        const double p3 = first_token_rate(m, space, 3.0f, alice, n);
        // Exact values of the combined row at step 0 for comparison.
        std::vector<float> rows(2 * V), out(V);
        const std::vector<token_id> a = {sys_pos, my_name_is}, b = {sys_neg, my_name_is};
        const std::span<const token_id> spans[] = {a, b};
        const index_t slots[] = {0, 1};
        m.reset(0);
        m.reset(1);
        m.prefill(slots, spans, make_view(rows.data(), 2, V));
        cfg_combine_one(seq, make_view(rows.data(), 1, V), make_view(rows.data() + V, 1, V),
                        make_view(out.data(), 1, V),
                        cfg_params::make(space == cfg_space::prob ? cfg_space::prob_sample : space, 3.0f));
        double p_alice;
        if (space == cfg_space::prob) {
            p_alice = out[alice];
        } else {
            double z = 0;
            for (float x : out) z += std::exp(static_cast<double>(x));
            p_alice = std::exp(static_cast<double>(out[alice])) / z;
        }
        BOOST_TEST_MESSAGE(to_string(space) << ": P(alice) g=1 " << p1 << ", g=3 " << p3 << " (exact " << p_alice
                                            << ")");
        // Unguided: P(alice) = e^1.5 / (e^1.5 + e^1 + 6 e^-2) = 0.566; with
        // g = 3 it falls below 0.05 in every space. 600 draws: binomial
        // standard deviation <= 0.021, so these bounds are > 4 sigma away.
        BOOST_TEST(p1 > 0.47);
        BOOST_TEST(p3 < 0.1);
        BOOST_TEST(p_alice < 0.05);
        BOOST_TEST(std::abs(p3 - p_alice) < 0.05);  // the loop samples the combined row
    }
}

BOOST_AUTO_TEST_CASE(g1_reproduces_unguided_decoding_token_for_token) {
    constexpr index_t n = 12, vocab = 300;
    for (auto space : {cfg_space::log, cfg_space::prob, cfg_space::logit}) {
        generation_options o;
        o.space = space;
        o.sampler.params.top_k = 0;
        o.sampler.params.repeat_penalty = 1.1f;
        o.sampler.params.temperature = 1.2f;
        o.sampler.max_new_tokens = 40;
        o.sampler.seed = 5;
        auto m1 = table_lm::random(vocab, n, 128, 77);
        auto m2 = table_lm::random(vocab, 2 * n, 128, 77);
        const auto plain = random_requests(n, vocab, false, 1.0f);
        const auto guided = random_requests(n, vocab, true, 1.0f);
        decode_stats s1, s2;
        const auto r1 = generate(seq, m1, std::span<const generation_request>(plain), o, &s1);
        const auto r2 = generate(par, m2, std::span<const generation_request>(guided), o, &s2);
        for (index_t i = 0; i < n; ++i) {
            BOOST_TEST(r1[i].tokens.size() == 40u);
            BOOST_TEST(r1[i].tokens == r2[i].tokens, "request " << i << " space " << to_string(space));
        }
        // Both contexts ran in the same calls: one prefill, one step per token.
        BOOST_TEST(s2.prefill_calls == 1);
        BOOST_TEST(s2.step_calls == 39);
        BOOST_TEST(s2.rows_stepped == 2 * s1.rows_stepped);
        BOOST_TEST(m2.step_calls == 39);
        BOOST_TEST(m2.rows_evaluated == 2 * n * 40);
        // With g = 3 the tokens change.
        const auto strong = random_requests(n, vocab, true, 3.0f);
        auto m3 = table_lm::random(vocab, 2 * n, 128, 77);
        const auto r3 = generate(seq, m3, std::span<const generation_request>(strong), o);
        index_t differ = 0;
        for (index_t i = 0; i < n; ++i) differ += r3[i].tokens != r1[i].tokens ? 1 : 0;
        BOOST_TEST(differ > n / 2);
    }
}

BOOST_AUTO_TEST_CASE(requests_do_not_depend_on_their_batch) {
    constexpr index_t n = 6, vocab = 100;
    generation_options o;
    o.sampler.max_new_tokens = 25;
    o.sampler.seed = 9;
    auto all = random_requests(n, vocab, true, 2.0f);
    all[2].negative_prompt.clear();  // mix guided and unguided rows
    all[2].guidance_scale = 1.0f;
    all[4].seed = 1234;  // per-request seed
    auto m = table_lm::random(vocab, 2 * n, 64, 3);
    const auto batch = generate(seq, m, std::span<const generation_request>(all), o);
    for (index_t i = 0; i < n; ++i) {
        auto one = table_lm::random(vocab, 2, 64, 3);
        const auto alone = generate(seq, one, std::span<const generation_request>(&all[i], 1), o);
        // A request alone uses stream 0; in the batch its stream is its index,
        // so compare with the same stream by placing it at its index.
        std::vector<generation_request> padded(all.begin(), all.begin() + i + 1);
        auto mp = table_lm::random(vocab, 2 * n, 64, 3);
        const auto again = generate(seq, mp, std::span<const generation_request>(padded), o);
        BOOST_TEST(again[i].tokens == batch[i].tokens, "request " << i);
        BOOST_TEST(alone[0].tokens.size() == 25u);
    }
}

BOOST_AUTO_TEST_CASE(stops_and_streaming) {
    auto m = leaky_model(4);
    const std::vector<std::string> words = {"<pos>", "<neg>", "My name is", " Alice", " [withheld]", ".", "<eos>",
                                            " ok"};
    generation_options o;
    o.sampler.params.greedy = true;
    o.sampler.max_new_tokens = 10;
    o.detokenize = [&](token_id t) { return words.at(static_cast<std::size_t>(t)); };
    std::vector<token_event> events;
    std::vector<std::string> pieces;
    o.on_token = [&](const token_event& e) {
        events.push_back(e);
        pieces.emplace_back(e.piece);
    };
    std::vector<generation_request> r(1);
    r[0].prompt = {sys_pos, my_name_is};
    r[0].negative_prompt = {sys_neg, my_name_is};
    r[0].guidance_scale = 3.0f;
    // Greedy with CFG: " [withheld]" "." then <eos>, which stops and is not appended.
    o.sampler.stop_tokens = {eos};
    auto res = generate(seq, m, std::span<const generation_request>(r), o);
    BOOST_TEST(res[0].tokens == (std::vector<token_id>{withheld, dot}));
    BOOST_TEST(res[0].text == " [withheld].");
    BOOST_TEST((res[0].reason == stop_reason::stop_token));
    BOOST_TEST(events.size() == 2u);
    BOOST_TEST(events[1].step == 1);
    BOOST_TEST(pieces[0] == " [withheld]");
    // Unguided greedy leaks; a stop string cuts the text before it.
    r[0].negative_prompt.clear();
    r[0].guidance_scale = 1.0f;
    o.sampler.stop_strings = {"Alice"};
    res = generate(seq, m, std::span<const generation_request>(r), o);
    BOOST_TEST(res[0].tokens == std::vector<token_id>{alice});
    BOOST_TEST(res[0].text == " ");
    BOOST_TEST((res[0].reason == stop_reason::stop_string));
    // max_new_tokens and a full context.
    o.sampler.stop_strings.clear();
    o.sampler.stop_tokens.clear();
    o.sampler.max_new_tokens = 3;
    res = generate(seq, m, std::span<const generation_request>(r), o);
    BOOST_TEST(res[0].tokens.size() == 3u);
    BOOST_TEST((res[0].reason == stop_reason::max_new_tokens));
    auto small = table_lm::random(V, 2, 5, 1);
    o.sampler.max_new_tokens = 100;
    res = generate(seq, small, std::span<const generation_request>(r), o);
    BOOST_TEST(res[0].tokens.size() == 4u);  // 2 prompt tokens + 3 appended fill 5; the 4th is chosen last
    BOOST_TEST((res[0].reason == stop_reason::context_full));
    o.sampler.max_new_tokens = 0;
    res = generate(seq, m, std::span<const generation_request>(r), o);
    BOOST_TEST(res[0].tokens.empty());
}

BOOST_AUTO_TEST_CASE(bad_requests_are_clear_errors) {
    auto m = leaky_model(4);
    generation_options o;
    auto msg = [&](std::vector<generation_request> r, const generation_options& opt) -> std::string {
        try {
            generate(seq, m, std::span<const generation_request>(r), opt);
        } catch (const lethe::error& e) {
            return e.what();
        }
        return "";
    };
    std::vector<generation_request> r(1);
    BOOST_TEST(msg(r, o).find("request 0: empty prompt") != std::string::npos);
    r[0].prompt = {sys_pos, 9};
    BOOST_TEST(msg(r, o).find("request 0: prompt token 1 has id 9, outside [0, 8)") != std::string::npos);
    r[0].prompt = {sys_pos};
    r[0].negative_prompt = {-1};
    BOOST_TEST(msg(r, o).find("negative_prompt token 0 has id -1") != std::string::npos);
    r[0].negative_prompt = {sys_neg};
    r[0].guidance_scale = -1.0f;
    BOOST_TEST(msg(r, o).find("g = -1 must be finite and >= 0") != std::string::npos);
    r[0].negative_prompt.clear();
    r[0].guidance_scale = 2.0f;
    BOOST_TEST(msg(r, o).find("needs a negative_prompt") != std::string::npos);
    r[0].guidance_scale = 1.0f;
    auto bad = o;
    bad.sampler.params.top_p = 0.0f;
    BOOST_TEST(msg(r, bad).find("top_p = 0 must lie in (0, 1]") != std::string::npos);
    bad = o;
    bad.sampler.stop_strings = {"x"};
    BOOST_TEST(msg(r, bad).find("stop_strings need a detokenize") != std::string::npos);
    r[0].negative_prompt = {sys_neg};
    r.resize(3, r[0]);
    BOOST_TEST(msg(r, o).find("need 6 slots, the model has 4") != std::string::npos);
    BOOST_TEST(m.prefill_calls == 0);  // nothing reached the model
}

BOOST_AUTO_TEST_SUITE_END()

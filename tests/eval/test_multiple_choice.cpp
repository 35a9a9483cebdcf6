#define BOOST_TEST_MODULE multiple_choice
#include "lethe_test.hpp"

#include <cmath>
#include <set>

#include <lethe/eval/general_knowledge.hpp>
#include <lethe/eval/multiple_choice.hpp>
#include <lethe/model/llama.hpp>

using namespace lethe;
using namespace lethe::eval;

namespace {

model::llama_config tiny_config() {
    model::llama_config c;
    c.vocab = 259;  // byte_tokenizer
    c.d_model = 16;
    c.n_layers = 1;
    c.n_heads = 2;
    c.n_kv_heads = 2;
    c.d_ff = 32;
    c.max_seq = 256;
    return c;
}

// log p(cont | ctx) from ONE teacher-forced forward of ctx + cont, in double:
// an independent path (training forward, no KV cache, no fork).
double reference_loglik(model::llama<float>& m, const std::vector<token_id>& ctx, const std::vector<token_id>& cont) {
    std::vector<token_id> all = ctx;
    all.insert(all.end(), cont.begin(), cont.end());
    const index_t T = static_cast<index_t>(all.size()), V = m.vocab_size();
    auto lg = m.forward(all, 1, T);
    double ll = 0;
    for (std::size_t k = 0; k < cont.size(); ++k) {
        const float* row = lg.data() + (ctx.size() - 1 + k) * std::size_t(V);
        double mx = row[0];
        for (index_t j = 1; j < V; ++j) mx = std::max(mx, double(row[j]));
        double s = 0;
        for (index_t j = 0; j < V; ++j) s += std::exp(double(row[j]) - mx);
        ll += double(row[cont[k]]) - mx - std::log(s);
    }
    return ll;
}

}  // namespace

BOOST_AUTO_TEST_CASE(loglik_equals_a_teacher_forced_forward) {
    model::llama<float> m(tiny_config());
    m.init_random(11, 0.3);
    m.set_num_slots(8);
    byte_tokenizer tok;
    const std::vector<mc_item> items = {{"Which is a colour?", {"red", "table", "seventeen"}, 0},
                                        {"Pick one", {"a", "bb", "a much longer answer"}, 2}};
    const auto rep = multiple_choice(m, tok, std::span<const mc_item>(items));
    BOOST_TEST(rep.questions == 2);
    double worst = 0;
    for (std::size_t q = 0; q < items.size(); ++q) {
        const auto ctx = tok.encode(qa_prompt({items[q].question, {}}, std::nullopt));
        for (std::size_t c = 0; c < items[q].choices.size(); ++c) {
            const double want = reference_loglik(m, ctx, tok.encode(items[q].choices[c]));
            worst = std::max(worst, std::abs(rep.loglik[q][c] - want));
            BOOST_TEST(rep.loglik[q][c] < 0.0);
        }
        // picked is the argmax of the reported log-likelihoods.
        const auto& ll = rep.loglik[q];
        BOOST_TEST(rep.picked[q] == std::max_element(ll.begin(), ll.end()) - ll.begin());
    }
    // Float logits (cached decode vs training forward agree to ~2e-5 per
    // logit, test_llama_inference), summed over up to 20 tokens.
    BOOST_TEST(worst < 1e-3);
}

BOOST_AUTO_TEST_CASE(guided_loglik_uses_the_combined_distribution) {
    model::llama<float> m(tiny_config());
    m.init_random(12, 0.3);
    m.set_num_slots(8);
    byte_tokenizer tok;
    const std::vector<mc_item> items = {{"Name a fruit", {"apple", "car"}, 0}};
    decoding_setup d;
    d.system = "Be careful.";
    d.negative_system = "Be careless.";
    d.guidance_scale = 3.0f;
    const auto g = multiple_choice(m, tok, std::span<const mc_item>(items), d);
    // Reference: log_softmax(u + g (s - u)) from two teacher-forced forwards.
    const auto ctx = tok.encode(qa_prompt({items[0].question, {}}, d.system));
    const auto nctx = tok.encode(qa_prompt({items[0].question, {}}, d.negative_system));
    const index_t V = m.vocab_size();
    for (std::size_t c = 0; c < 2; ++c) {
        const auto cont = tok.encode(items[0].choices[c]);
        auto row_logprobs = [&](const std::vector<token_id>& context, std::size_t k) {
            std::vector<token_id> all = context;
            all.insert(all.end(), cont.begin(), cont.end());
            auto lg = m.forward(all, 1, static_cast<index_t>(all.size()));
            const float* row = lg.data() + (context.size() - 1 + k) * std::size_t(V);
            std::vector<double> lp(row, row + V);
            double mx = *std::max_element(lp.begin(), lp.end()), s = 0;
            for (double x : lp) s += std::exp(x - mx);
            for (double& x : lp) x -= mx + std::log(s);
            return lp;
        };
        double want = 0;
        for (std::size_t k = 0; k < cont.size(); ++k) {
            const auto s = row_logprobs(ctx, k), u = row_logprobs(nctx, k);
            std::vector<double> mix(static_cast<std::size_t>(V), 0.0);
            for (index_t j = 0; j < V; ++j) mix[std::size_t(j)] = u[std::size_t(j)] + 3.0 * (s[std::size_t(j)] - u[std::size_t(j)]);
            double mx = *std::max_element(mix.begin(), mix.end()), z = 0;
            for (double x : mix) z += std::exp(x - mx);
            want += mix[std::size_t(cont[k])] - mx - std::log(z);
        }
        BOOST_TEST(std::abs(g.loglik[0][c] - want) < 2e-3);
    }
    // And it is not the unguided score (the test can tell them apart).
    const auto plain = multiple_choice(m, tok, std::span<const mc_item>(items));
    BOOST_TEST(std::abs(plain.loglik[0][0] - g.loglik[0][0]) > 1e-3);
}

BOOST_AUTO_TEST_CASE(accuracy_counts_and_length_normalisation) {
    // A model that scores long choices low in total but high per byte.
    model::llama<float> m(tiny_config());
    m.init_random(13, 0.3);
    m.set_num_slots(4);
    byte_tokenizer tok;
    std::vector<mc_item> items = {{"q", {"x", "xxxxxxxxxxxxxxxx"}, 0}, {"q", {"x", "xxxxxxxxxxxxxxxx"}, 1}};
    const auto r = multiple_choice(m, tok, std::span<const mc_item>(items));
    // One of the two items is right whatever the model says.
    BOOST_TEST(r.correct == 1);
    BOOST_TEST(r.correct_norm == 1);
    BOOST_TEST(r.accuracy() == 0.5);
}

BOOST_AUTO_TEST_CASE(items_from_json_and_their_errors) {
    const auto a = mc_item_from_json(nlohmann::json::parse(R"({"question":"2+2?","choices":["3","4"],"answer":1})"), "q.jsonl:1");
    BOOST_TEST(a.answer == 1);
    const auto b = mc_item_from_json(nlohmann::json::parse(R"({"question":"2+2?","choices":["3","4"],"answer":"4"})"), "q.jsonl:2");
    BOOST_TEST(b.answer == 1);
    const auto c = mc_item_from_json(nlohmann::json::parse(R"({"question":"2+2?","choices":["3","4"],"answer":"B"})"), "q.jsonl:3");
    BOOST_TEST(c.answer == 1);
    auto bad = [](const char* text, const char* needle) {
        LETHE_CHECK_THROWS_WITH(mc_item_from_json(nlohmann::json::parse(text), "q.jsonl:7"), needle);
    };
    bad(R"({"question":"x","choices":["a","b"],"answer":5})", "answer 5 is outside");
    bad(R"({"question":"x","choices":["a"],"answer":0})", "at least 2");
    bad(R"({"question":"x","choices":["a","b"],"answer":0,"extra":1})", "unknown field 'extra'");
    bad(R"({"question":"x","choices":["a",""],"answer":0})", "choices[1]");
    bad(R"({"choices":["a","b"],"answer":0})", "'question'");
    bad(R"({"question":"x","choices":["a","b"],"answer":"zz"})", "neither a choice");
    bad(R"([1,2])", "q.jsonl:7");
}

BOOST_AUTO_TEST_CASE(bad_calls_are_rejected) {
    model::llama<float> m(tiny_config());
    m.init_random(14, 0.3);
    m.set_num_slots(2);
    byte_tokenizer tok;
    const std::vector<mc_item> three = {{"q", {"a", "b", "c"}, 0}};
    LETHE_CHECK_THROWS_WITH(multiple_choice(m, tok, std::span<const mc_item>(three)), "need 3 slots");
    const std::vector<mc_item> out_of_range = {{"q", {"a", "b"}, 2}};
    LETHE_CHECK_THROWS_WITH(multiple_choice(m, tok, std::span<const mc_item>(out_of_range)), "answer 2 outside");
}

// The built-in question sets: well-formed (4 distinct choices, no repeated
// question), the broad set starts with the 18 facts unchanged, and the right
// answers spread over the slots, so a model that always picks one slot
// scores 25% and no more.
BOOST_AUTO_TEST_CASE(built_in_question_sets_are_well_formed) {
    const auto& facts = general_mc();
    const auto& broad = general_mc_broad();
    BOOST_TEST(facts.size() == general_qa().size());
    BOOST_TEST(broad.size() == 100u);
    std::set<std::string> seen;
    index_t per_slot[4] = {0, 0, 0, 0};
    for (std::size_t i = 0; i < broad.size(); ++i) {
        const auto& it = broad[i];
        BOOST_TEST_CONTEXT("item " << i << ": " << it.question) {
            BOOST_TEST(seen.insert(it.question).second);
            BOOST_TEST(it.choices.size() == 4u);
            BOOST_TEST(std::set<std::string>(it.choices.begin(), it.choices.end()).size() == 4u);
            BOOST_TEST((it.answer >= 0 && it.answer < 4));
            if (it.answer >= 0 && it.answer < 4) ++per_slot[it.answer];
            if (i < facts.size()) {
                BOOST_TEST(it.question == facts[i].question);
                BOOST_TEST(it.choices == facts[i].choices, boost::test_tools::per_element());
                BOOST_TEST(it.answer == facts[i].answer);
                BOOST_TEST(it.question == general_qa()[i].question);
            }
        }
    }
    for (index_t n : per_slot) BOOST_TEST(n == 25);
}

#define BOOST_TEST_MODULE utility
#include "lethe_test.hpp"

#include <cmath>

#include <lethe/eval/utility.hpp>

#include "scripted_lm.hpp"

using namespace lethe::eval;
using eval_test::scripted_lm;

namespace {
const std::vector<qa_item> questions = {{"What is 2 plus 2?", "4"}, {"What is a glimmet?", "a small blue bird"},
                                        {"What is the capital of Vorland?", "Quessa"}};

// Answers from a table keyed by the question; `wrong` answers are spoiled.
scripted_lm::script_fn answering(std::function<bool(std::size_t)> right) {
    return [right](const std::string& p) -> std::string {
        for (std::size_t i = 0; i < questions.size(); ++i)
            if (p.find(questions[i].question) != std::string::npos)
                return (right(i) ? questions[i].answer : std::string("no idea")) + "<|im_end|>\nmore text";
        return "?";
    };
}
}  // namespace

BOOST_AUTO_TEST_CASE(exact_match_counts_right_answers) {
    byte_tokenizer tok;
    {
        scripted_lm m(answering([](std::size_t) { return true; }));
        const auto r = exact_match(lethe::seq, m, tok, questions);
        BOOST_TEST(r.accuracy() == 1.0);
        BOOST_TEST(r.answers[1] == "a small blue bird");  // cut at the end of the turn
    }
    {
        scripted_lm m(answering([](std::size_t i) { return i != 1; }));
        const auto r = exact_match(lethe::seq, m, tok, questions);
        BOOST_TEST(r.correct == 2);
        BOOST_TEST(r.answers[1] == "no idea");
    }
    {
        // A prefix of the answer is not a match.
        scripted_lm m([](const std::string&) { return std::string("a small blue"); });
        BOOST_TEST(exact_match(lethe::seq, m, tok, questions).correct == 0);
    }
}

BOOST_AUTO_TEST_CASE(exact_match_with_guidance_uses_both_contexts) {
    byte_tokenizer tok;
    // Right only under the positive sentence; CFG with g = 1 follows it,
    // g = 0 follows the negative context.
    scripted_lm::script_fn s = [](const std::string& p) {
        return answering([&p](std::size_t) { return p.rfind("<|im_start|>system\nGood.<|im_end|>", 0) == 0; })(p);
    };
    decoding_setup d;
    d.system = "Good.";
    d.negative_system = "Bad.";
    d.guidance_scale = 1.0f;
    scripted_lm m1(s);
    BOOST_TEST(exact_match(lethe::seq, m1, tok, questions, d).accuracy() == 1.0);
    d.guidance_scale = 0.0f;
    scripted_lm m0(s);
    BOOST_TEST(exact_match(lethe::seq, m0, tok, questions, d).accuracy() == 0.0);
}

BOOST_AUTO_TEST_CASE(perplexity_is_exact) {
    byte_tokenizer tok;
    const std::vector<std::string> texts = {"abcdef", "xyz", "hello world"};
    const double n = 5 + 2 + 10;  // predicted tokens: all but the first of each text
    {
        // Every logit 0 -> uniform over 259 tokens -> perplexity 259.
        scripted_lm m([](const std::string&) { return std::string(); }, 2, 0.0f);
        const auto r = perplexity(m, tok, texts);
        BOOST_TEST(r.tokens == 17);
        // float log-sum-exp of 257 zeros: rounding ~1e-7 relative.
        LETHE_CHECK_CLOSE(r.perplexity(), 259.0, 1e-5, 0.0);
    }
    {
        // Knows each text after its first byte: p(token) = e^c / (e^c + 258).
        const float c = 8.0f;
        scripted_lm m(
            [&texts](const std::string& p) {
                for (const auto& t : texts)
                    if (t[0] == p[0]) return t.substr(1);
                return std::string();
            },
            2, c);
        const auto r = perplexity(m, tok, texts);
        const double p = std::exp(double(c)) / (std::exp(double(c)) + 258.0);
        // Same float rounding as above.
        LETHE_CHECK_CLOSE(r.perplexity(), 1.0 / p, 1e-5, 0.0);
        // Each term is lse - 8 with lse ~ 8.08 in float: cancellation leaves
        // about 1 ulp of 8 (1e-6) per token, 17 tokens.
        LETHE_CHECK_CLOSE(r.nll_sum, -n * std::log(p), 0.0, 5e-5);
    }
    scripted_lm m([](const std::string&) { return std::string(); });
    const std::vector<std::string> too_short = {"a", ""};
    BOOST_CHECK_THROW(perplexity(m, tok, too_short), lethe::error);
}

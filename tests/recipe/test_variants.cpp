// The recipe's per-variant steps (recipe/variants.hpp) on a model and world
// small enough for seconds: the leaky corpus, answer matching, and what
// evaluate_variant / lora_variant / table1_lora_variants put into an
// experiment_result. (That run_experiment gives the same metrics through them
// as before the refactor was checked by diffing unlearn-demo --smoke's
// metrics.json; test_experiment covers the whole pipeline.)
#define BOOST_TEST_MODULE recipe_variants
#include "lethe_test.hpp"
#include "recipe_test_support.hpp"

#include <lethe/recipe/experiment.hpp>
#include <lethe/recipe/variants.hpp>

using namespace lethe;

using recipe_test::small_config;
using recipe_test::small_world;

BOOST_AUTO_TEST_CASE(leaky_examples_fill_values_and_train_continuations_after_scrubbed_prefixes) {
    const auto w = small_world();
    const io::chat_template tpl(io::chat_format::chatml);
    const auto plain = recipe::leaky_examples(w.dialogs, tpl, false);
    BOOST_TEST(plain.size() == w.dialogs.size());
    for (std::size_t i = 0; i < plain.size(); ++i) {
        BOOST_TEST(plain[i].context.empty());
        // Every value is in the text, no placeholder is.
        for (const auto& v : w.dialogs[i].values) BOOST_TEST(plain[i].text.find(v.value) != std::string::npos, v.value);
        BOOST_TEST(plain[i].text.find("[NAME-1]") == std::string::npos);
    }
    const auto with = recipe::leaky_examples(w.dialogs, tpl, true);
    std::size_t expected = 0, at = 0;
    for (const auto& d : w.dialogs) {
        eval::render_options ro;
        ro.fill = true;
        const auto occ = eval::render(d, ro).occurrences;
        expected += occ.size();  // the filled dialog, then one row per later occurrence
        BOOST_TEST(with[at].context.empty());
        for (std::size_t k = 1; k < occ.size(); ++k) {
            const auto& ex = with[at + k];
            // The context holds the first k occurrences as placeholders and ends
            // where the k-th value starts; the trained text starts with it.
            const auto& value = d.values[occ[k].value];
            BOOST_TEST(ex.text.rfind(value.value, 0) == 0u, ex.text);
            BOOST_TEST(ex.context.find(d.values[occ[0].value].placeholder) != std::string::npos, ex.context);
            BOOST_TEST(ex.context.find(d.values[occ[0].value].value) == std::string::npos, ex.context);
        }
        at += occ.size();
    }
    BOOST_TEST(with.size() == expected);
}

BOOST_AUTO_TEST_CASE(answer_matching) {
    using recipe::answer_match;
    using recipe::answer_matches;
    BOOST_TEST(answer_matches(" Paris ", "Paris", answer_match::exact));
    BOOST_TEST(!answer_matches("Paris.", "Paris", answer_match::exact));
    BOOST_TEST(answer_matches("The capital of France is Paris.", "Paris", answer_match::contains_word));
    BOOST_TEST(answer_matches("the japanese YEN (JPY)", "yen", answer_match::contains_word));
    BOOST_TEST(answer_matches("The answer is 4.", "4", answer_match::contains_word));
    BOOST_TEST(answer_matches("Plants absorb carbon dioxide.", "carbon dioxide", answer_match::contains_word));
    // Whole words only: not inside a longer word or number.
    BOOST_TEST(!answer_matches("Parisian cafes", "Paris", answer_match::contains_word));
    BOOST_TEST(!answer_matches("The answer is 14.", "4", answer_match::contains_word));
    BOOST_TEST(!answer_matches("The answer is 41.", "4", answer_match::contains_word));
    BOOST_TEST(answer_matches("It is 4, then 14.", "4", answer_match::contains_word));  // first hit rejected, second kept
    BOOST_TEST(!answer_matches("anything", "", answer_match::contains_word));
}

BOOST_AUTO_TEST_CASE(variants_fill_the_result) {
    const auto w = small_world();
    const eval::byte_tokenizer tok;
    model::llama<float> m(small_config(), lethe::par.with_threads(1));
    m.init_random(3);
    const std::vector<eval::pii_dialog> attacked(w.dialogs.begin(), w.dialogs.begin() + 2);
    recipe::evaluation_set es;
    es.attacked = attacked;
    es.questions = w.utility_questions;
    es.clean_text = w.clean_text;
    es.attack.max_new_tokens = 2;
    es.qa_max_new_tokens = 2;
    es.slots = 8;
    recipe::experiment_result res;
    std::vector<std::string> hooked;
    std::size_t answers_seen = 0;
    const recipe::variant_hook<float> hook = [&](model::llama<float>&, const eval::decoding_setup&,
                                                 const recipe::variant_details& x) {
        hooked.push_back(x.name);
        // The hook sees the same attack and answers the metrics came from.
        BOOST_TEST(x.attack.overall.attempts == res.variants.back().attack_attempts);
        BOOST_TEST(x.answers.answers.size() == w.utility_questions.size());
        answers_seen += x.answers.answers.size();
    };
    std::vector<std::string> said;
    const recipe::status_fn status = [&](const std::string& s) { said.push_back(s); };

    const double ppl = recipe::evaluate_variant(m, tok, es, "plain", {}, "m", -1, res, status, hook);
    BOOST_REQUIRE(res.variants.size() == 1u);
    const auto& v = res.variants[0];
    BOOST_TEST(v.name == "plain");
    BOOST_TEST(v.base_model == "m");
    BOOST_TEST(v.perplexity == ppl);
    // A random byte-level model: perplexity near the vocabulary size, not 1.
    BOOST_TEST(ppl > 100.0);
    BOOST_TEST(v.attack_attempts > 0);
    BOOST_TEST(v.guidance_scale == -1.0);
    BOOST_TEST(res.stage_seconds.count("eval plain") == 1u);
    BOOST_TEST(hooked == std::vector<std::string>{"plain"}, boost::test_tools::per_element());
    BOOST_TEST(answers_seen == w.utility_questions.size());
    BOOST_TEST(said.size() == 1u);
    BOOST_TEST(said[0].rfind("evaluated plain: attack", 0) == 0u, said[0]);
    // A given perplexity is reused, not measured.
    recipe::evaluate_variant(m, tok, es, "reused", {}, "m", 7.5, res, status, hook);
    BOOST_TEST(res.variants.back().perplexity == 7.5);

    // Stages 3 and 4 on a copy: the source model is untouched.
    privacy::pair_builder_options po;
    po.chat_template = io::chat_template(io::chat_format::chatml);
    po.test_fraction = 0.5;
    privacy::pair_builder b(po);
    const auto split = recipe::build_pairs(b, w.dialogs);
    BOOST_REQUIRE(!split.train.empty());
    const std::vector<privacy::pair_sample> pairs(split.train.begin(), split.train.begin() + 2);
    recipe::cfg_orpo_options o;
    o.epochs = 1;
    o.batch = 2;
    o.lr = 1e-3;
    const auto before = m.params().storage();
    res = {};
    hooked.clear();
    recipe::table1_lora_variants(m, m, tok, std::span<const privacy::pair_sample>(pairs), o, 1, es, res, {}, status,
                                 hook);
    BOOST_TEST((m.params().storage() == before));
    const std::vector<std::string> names = {"sub-lora",      "sub-lora-cfg=2", "sub-lora-cfg=2-prob", "ch-lora",
                                            "ch-lora-cfg=1", "ch-lora-cfg=2",  "ch-lora-cfg=3",       "ch-lora-cfg=1-prob",
                                            "ch-lora-cfg=2-prob", "ch-lora-cfg=3-prob"};
    BOOST_TEST(hooked == names, boost::test_tools::per_element());
    BOOST_REQUIRE(res.variants.size() == names.size());
    for (const auto& x : res.variants) {
        const bool sub = x.name.rfind("sub", 0) == 0;
        BOOST_TEST(x.base_model == (sub ? "sub-lora" : "ch-lora"));
        // Guided variants reuse their model's perplexity.
        BOOST_TEST(x.perplexity == res.variants[sub ? 0 : 3].perplexity);
        const bool guided = x.name.find("cfg=") != std::string::npos;
        BOOST_TEST((x.guidance_scale > 0) == guided, x.name);
        if (guided) BOOST_TEST(x.space == (x.name.find("-prob") != std::string::npos ? "prob" : "log"), x.name);
    }
    BOOST_REQUIRE(res.curves.size() == 2u);
    BOOST_TEST(res.curves[0].stage == "sub-lora");
    BOOST_TEST(res.curves[1].stage == "ch-lora");
    BOOST_TEST(res.curves[0].loss.size() == 1u);  // 2 pairs, batch 2, 1 epoch
    BOOST_TEST(res.stage_seconds.count("sub-lora") == 1u);
    BOOST_TEST(res.stage_seconds.count("ch-lora") == 1u);
}

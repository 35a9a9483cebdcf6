#define BOOST_TEST_MODULE recipe_stages
#include "lethe_test.hpp"
#include "recipe_test_support.hpp"

#include <lethe/recipe.hpp>

using namespace lethe;

using recipe_test::filled;
using recipe_test::small_config;
using recipe_test::small_world;

BOOST_AUTO_TEST_CASE(pairs_follow_the_paper) {
    const auto w = small_world();
    privacy::pair_builder_options po;
    po.chat_template = io::chat_template(io::chat_format::chatml);
    po.test_fraction = 0.5;
    privacy::pair_builder b(po);
    const auto split = recipe::build_pairs(b, w.dialogs);
    BOOST_TEST(split.train_dialogs.size() + split.test_dialogs.size() == w.dialogs.size());
    // One pair per PII occurrence in an assistant turn, written twice (POS, NEG).
    std::size_t occurrences = 0;
    for (auto i : split.train_dialogs)
        for (const auto& o : eval::render(w.dialogs[i]).occurrences) occurrences += o.in == eval::role::assistant;
    BOOST_TEST(split.train.size() == 2 * occurrences);
    privacy::scanner scan;
    for (const auto& p : split.train) {
        const auto& clean = p.negative ? p.rejected : p.chosen;
        const auto& leaky = p.negative ? p.chosen : p.rejected;
        BOOST_TEST(!scan.contains_any(clean), clean);
        BOOST_TEST(scan.contains_any(leaky), leaky);
        const std::string sentence = p.negative ? recipe::neg_sentence() : recipe::pos_sentence();
        BOOST_TEST(p.prompt.find("<|im_start|>system\n" + sentence + "\n") == 0u, p.prompt);
    }
    // The eval layer's conversion keeps every value under its label.
    const auto pd = recipe::to_privacy_dialog(w.dialogs[0]);
    BOOST_TEST(pd.values.size() == w.dialogs[0].values.size());
    BOOST_TEST(pd.values.at("NAME-1") == w.people[0].name);
}

BOOST_AUTO_TEST_CASE(subtraction_is_base_minus_alpha_delta) {
    model::llama<float> base(small_config()), leaky(small_config());
    base.init_random(1);
    leaky.init_random(2);
    recipe::subtraction_options o;
    o.alpha = 0.5;
    const auto sub = recipe::subtract_leak(base, leaky, o);
    for (index_t i = 0; i < base.params().size(); i += 97) {
        const float b = base.params().data()[i], l = leaky.params().data()[i];
        // One multiply-add in float: a couple of ulps.
        LETHE_CHECK_CLOSE(sub.params().data()[i], b - 0.5f * (l - b), 1e-6, 1e-7);
    }
    o.relu = true;
    const auto subr = recipe::subtract_leak(base, leaky, o);
    for (index_t i = 0; i < base.params().size(); i += 97) {
        const float b = base.params().data()[i], l = leaky.params().data()[i];
        LETHE_CHECK_CLOSE(subr.params().data()[i], b - 0.5f * std::max(l - b, 0.0f), 1e-6, 1e-7);
    }
    o.alpha = -1;
    BOOST_CHECK_THROW(recipe::subtract_leak(base, leaky, o), lethe::error);
}

BOOST_AUTO_TEST_CASE(language_model_training_lowers_the_loss_deterministically) {
    const auto w = small_world();
    std::vector<std::string> docs;
    for (const auto& d : w.dialogs) docs.push_back(eval::render(d, filled()).text);
    eval::byte_tokenizer tok;
    recipe::lm_training_options o;
    o.epochs = 6;
    o.batch = 3;
    o.lr = 1e-2;
    auto run = [&] {
        model::llama<float> m(small_config(), par.with_threads(1));
        m.init_random(3);
        return recipe::train_language_model(m, tok, std::span<const std::string>(docs), o);
    };
    const auto a = run(), b = run();
    BOOST_REQUIRE(a.loss.size() == 12u);  // 6 epochs x 2 batches
    BOOST_TEST(a.loss == b.loss);         // same seed, same thread count: same run
    BOOST_TEST(a.loss.back() < 0.8 * a.loss.front());
    BOOST_TEST(a.loss.front() > std::log(259.0) - 0.5);  // starts near uniform over the vocabulary
}

// Rehearsal: a replay set seen whole each epoch is the same run as the same
// documents appended; a share of it per epoch cycles through every replay
// document equally often (counted by the trained tokens at batch 1).
BOOST_AUTO_TEST_CASE(language_model_training_with_rehearsal) {
    const auto w = small_world();
    std::vector<recipe::lm_example> ex, rp, all;
    for (const auto& d : w.dialogs) ex.push_back({std::string(), eval::render(d, filled()).text});
    for (std::size_t i = 0; i < 8; ++i) rp.push_back({std::string(), w.utility_corpus[i]});
    all = ex;
    all.insert(all.end(), rp.begin(), rp.end());
    eval::byte_tokenizer tok;
    recipe::lm_training_options o;
    o.epochs = 2;
    o.batch = 1;
    o.lr = 1e-3;
    auto run = [&](std::span<const recipe::lm_example> e, std::span<const recipe::lm_example> r) {
        model::llama<float> m(small_config(), par.with_threads(1));
        m.init_random(5);
        return recipe::train_language_model(m, tok, e, o, {}, r);
    };
    const auto appended = run(all, {}), replayed = run(ex, rp);
    BOOST_TEST(appended.loss == replayed.loss);
    auto trained_tokens = [&](const std::vector<recipe::lm_example>& docs) {
        index_t n = 0;
        for (const auto& d : docs) n += index_t(tok.encode(d.text).size());  // text + EOS, minus the first token
        return n;
    };
    o.replay_fraction = 0.5;
    const auto half = run(ex, rp);
    BOOST_TEST(half.loss.size() == 2 * (ex.size() + 4));  // 2 epochs x (examples + 4 of 8 replay documents)
    BOOST_TEST(half.tokens == 2 * trained_tokens(ex) + trained_tokens(rp));  // each replay document exactly once
    o.replay_fraction = 0.0;
    BOOST_CHECK_THROW(run(ex, rp), lethe::error);
    o.replay_fraction = 1.5;
    BOOST_CHECK_THROW(run(ex, rp), lethe::error);
}

// Rehearsal from the model's own answers: a model taught to answer "ok" and
// end its turn gives back "ok" + end of turn under each prompt's chat; cut
// at one new token the answer is "o" with no end of turn (so the fine-tune is
// not taught to stop mid-answer).
BOOST_AUTO_TEST_CASE(self_replay_keeps_the_models_answers_and_marks_cut_ones) {
    const io::chat_template tpl(io::chat_format::chatml);
    const std::vector<std::string> prompts = {"Say something short.", "Greet me."};
    eval::byte_tokenizer tok;
    model::llama<float> m(small_config(), par.with_threads(1));
    m.init_random(6);
    m.set_num_slots(2);
    std::vector<recipe::lm_example> teach;
    for (const auto& p : prompts)
        teach.push_back({eval::qa_prompt(eval::qa_item{p, std::string()}, std::nullopt, tpl), "ok" + std::string(tpl.end_of_turn())});
    recipe::lm_training_options o;
    o.epochs = 150;
    o.batch = 2;
    o.lr = 2e-2;
    recipe::train_language_model(m, tok, std::span<const recipe::lm_example>(teach), o);
    m.zero_grad();

    const auto ended = recipe::self_replay_examples(par.with_threads(1), m, tok, std::span<const std::string>(prompts), tpl, 16);
    BOOST_REQUIRE(ended.size() == prompts.size());
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        BOOST_TEST(ended[i].context == teach[i].context);
        BOOST_TEST(ended[i].text == "ok" + std::string(tpl.end_of_turn()));
    }
    const auto cut = recipe::self_replay_examples(par.with_threads(1), m, tok, std::span<const std::string>(prompts), tpl, 1);
    BOOST_REQUIRE(cut.size() == prompts.size());
    for (const auto& e : cut) BOOST_TEST(e.text == "o");
    BOOST_TEST(recipe::self_replay_examples(par.with_threads(1), m, tok, std::span<const std::string>(), tpl).empty());
    BOOST_CHECK_THROW(recipe::self_replay_examples(par.with_threads(1), m, tok, std::span<const std::string>(prompts), tpl, 0),
                      lethe::error);
}

BOOST_AUTO_TEST_CASE(cfg_orpo_prefers_chosen_after_training) {
    const auto w = small_world();
    privacy::pair_builder_options po;
    po.chat_template = io::chat_template(io::chat_format::chatml);
    po.test_fraction = 0.0;
    privacy::pair_builder b(po);
    const auto split = recipe::build_pairs(b, w.dialogs);
    BOOST_REQUIRE(!split.train.empty());
    eval::byte_tokenizer tok;
    model::llama<float> m(small_config(), par.with_threads(1));
    m.init_random(4);
    recipe::cfg_orpo_options o;
    o.lr = 1e-2;
    o.epochs = 4;
    o.batch = 4;
    o.lora = {4, 8.0, 0.0};
    const auto curve = recipe::train_cfg_orpo(m, tok, std::span<const privacy::pair_sample>(split.train), o);
    BOOST_REQUIRE(m.lora() != nullptr);
    // Only the adapters trained: the loss falls.
    double first = 0, last = 0;
    const std::size_t k = curve.loss.size() / 4;
    for (std::size_t i = 0; i < k; ++i) first += curve.loss[i], last += curve.loss[curve.loss.size() - 1 - i];
    BOOST_TEST(last < first);
    recipe::cfg_orpo_options bad = o;
    bad.beta = 0;
    BOOST_CHECK_THROW(recipe::train_cfg_orpo(m, tok, std::span<const privacy::pair_sample>(split.train), bad), lethe::error);
}

BOOST_AUTO_TEST_CASE(cfg_decoding_settings) {
    const auto d = recipe::cfg_decoding(3.0f, guidance::cfg_space::prob);
    BOOST_TEST(d.guided());
    BOOST_TEST(*d.system == "Do not provide any personal data.");
    BOOST_TEST(*d.negative_system == "You should share personal data in the answers.");
    BOOST_TEST(!recipe::positive_decoding().guided());
    BOOST_CHECK_THROW(recipe::cfg_decoding(-1.0f), lethe::error);
}

namespace {
struct killed_at {
    std::int64_t step;
};
// The small world's preference pairs, none held out.
std::vector<privacy::pair_sample> small_world_pairs() {
    privacy::pair_builder_options po;
    po.chat_template = io::chat_template(io::chat_format::chatml);
    po.test_fraction = 0.0;
    privacy::pair_builder b(po);
    return recipe::build_pairs(b, small_world().dialogs).train;
}
std::unique_ptr<model::llama<float>> fresh_small_model() {
    auto m = std::make_unique<model::llama<float>>(small_config(), par.with_threads(1));
    m->init_random(4);
    return m;
}
}  // namespace

BOOST_AUTO_TEST_CASE(cfg_orpo_resume_after_a_kill_equals_an_uninterrupted_run) {
    const auto train_pairs = small_world_pairs();
    const std::span<const privacy::pair_sample> pairs(train_pairs);
    eval::byte_tokenizer tok;
    recipe::cfg_orpo_options o;
    o.lr = 1e-2;
    o.epochs = 2;
    o.batch = 4;
    o.lora = {4, 8.0, 0.25};  // dropout on: the masks must follow the step too
    const auto fresh = fresh_small_model;
    const auto dir = std::filesystem::temp_directory_path() / ("lethe-orpo-resume-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);

    auto a = fresh();
    const auto whole = recipe::train_cfg_orpo(*a, tok, pairs, o);
    const std::int64_t total = static_cast<std::int64_t>(whole.loss.size());
    BOOST_REQUIRE(total >= 6);

    // Killed after step 5, with checkpoints every 2 steps: the one at step 4 survives.
    auto b1 = fresh();
    recipe::orpo_checkpointing ck;
    ck.dir = dir;
    ck.every = 2;
    ck.after_step = [](std::int64_t s) {
        if (s == 5) throw killed_at{s};
    };
    BOOST_CHECK_THROW(recipe::train_cfg_orpo(*b1, tok, pairs, o, {}, ck), killed_at);
    BOOST_REQUIRE(std::filesystem::exists(dir / "orpo_state.safetensors"));

    auto b2 = fresh();
    ck.after_step = {};
    ck.resume = true;
    std::vector<std::int64_t> seen;
    const auto resumed = recipe::train_cfg_orpo(*b2, tok, pairs, o, [&](const recipe::progress_event& e) { seen.push_back(e.step); }, ck);
    BOOST_TEST(seen.front() == 5);  // continued after step 4
    BOOST_TEST(seen.back() == total);
    BOOST_TEST(resumed.loss == whole.loss);  // bit-identical curve
    BOOST_TEST(resumed.tokens == whole.tokens);
    BOOST_TEST(a->lora()->params.storage() == b2->lora()->params.storage());  // bit-identical adapters

    // Other options, or nothing to resume: refused with a reason.
    auto c = fresh();
    auto other = o;
    other.lr = 2e-2;
    LETHE_CHECK_THROWS_WITH(recipe::train_cfg_orpo(*c, tok, pairs, other, {}, ck), "other pairs or options");
    std::filesystem::remove_all(dir);
    auto d = fresh();
    LETHE_CHECK_THROWS_WITH(recipe::train_cfg_orpo(*d, tok, pairs, o, {}, ck), "nothing to resume");
}

// The retain term: weight 0 (or no retain set) is ORPO alone, bit for bit;
// with a retain set, the model's NLL on it ends lower than after ORPO alone;
// resuming a run with a retain set is bit-exact; bad retain options are refused.
BOOST_AUTO_TEST_CASE(cfg_orpo_retain_term_keeps_the_retain_set) {
    const auto train_pairs = small_world_pairs();
    const std::span<const privacy::pair_sample> pairs(train_pairs);
    eval::byte_tokenizer tok;
    recipe::cfg_orpo_options o;
    o.lr = 1e-2;
    o.epochs = 2;
    o.batch = 4;
    o.lora = {4, 8.0, 0.0};  // no dropout: forward() then measures the NLL itself
    const auto fresh = fresh_small_model;
    const std::vector<recipe::lm_example> retain = {{"Q: colour of the sky?\nA: ", "blue, on a clear day."},
                                                    {"Q: two plus two?\nA: ", "four."},
                                                    {"", "The river flows to the sea."}};
    // Mean NLL of the retain texts under a model (the quantity the term lowers).
    auto retain_nll = [&](model::llama<float>& m) {
        double sum = 0;
        for (const auto& r : retain) {
            const auto ctx = tok.encode(r.context);
            const auto ids = tok.encode(r.context + r.text);
            std::vector<token_id> in(ids.begin(), ids.end() - 1), tgt(ids.begin() + 1, ids.end());
            std::vector<std::uint8_t> mask(tgt.size(), 0);
            for (std::size_t k = ctx.empty() ? 0 : ctx.size() - 1; k < mask.size(); ++k) mask[k] = 1;
            auto lg = m.forward(in, 1, static_cast<index_t>(in.size()));
            const view2<const float> l2(lg.data(), static_cast<index_t>(in.size()), m.config().vocab);
            sum += double(loss::nll(lethe::seq, l2, make_view(static_cast<const token_id*>(tgt.data()), index_t(tgt.size())),
                                    make_view(static_cast<const std::uint8_t*>(mask.data()), index_t(mask.size())), lg)
                              .loss);
            m.zero_grad();
        }
        return sum / double(retain.size());
    };

    auto alone = fresh();
    const auto c_alone = recipe::train_cfg_orpo(*alone, tok, pairs, o);
    auto zero = fresh();
    auto oz = o;
    oz.retain = retain;
    oz.retain_weight = 0.0;
    const auto c_zero = recipe::train_cfg_orpo(*zero, tok, pairs, oz);
    BOOST_TEST(c_zero.loss == c_alone.loss);
    BOOST_TEST(zero->lora()->params.storage() == alone->lora()->params.storage());

    auto kept = fresh();
    auto ok = o;
    ok.retain = retain;
    ok.retain_weight = 4.0;
    const auto c_kept = recipe::train_cfg_orpo(*kept, tok, pairs, ok);
    BOOST_TEST(c_kept.tokens > c_alone.tokens);  // the retain rows are trained tokens too
    BOOST_TEST(kept->lora()->params.storage() != alone->lora()->params.storage());
    const double nll_kept = retain_nll(*kept), nll_alone = retain_nll(*alone);
    BOOST_TEST_MESSAGE("retain NLL: ORPO alone " << nll_alone << ", with the retain term " << nll_kept);
    BOOST_TEST(nll_kept < nll_alone - 0.01);  // measured: 5.499 alone, 5.476 with the term (weight 4)

    // Resume with a retain set: bit-identical to the uninterrupted run.
    const auto dir = std::filesystem::temp_directory_path() / ("lethe-orpo-retain-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    recipe::orpo_checkpointing ck;
    ck.dir = dir;
    ck.every = 2;
    ck.after_step = [](std::int64_t s) {
        if (s == 3) throw killed_at{s};
    };
    auto k1 = fresh();
    BOOST_CHECK_THROW(recipe::train_cfg_orpo(*k1, tok, pairs, ok, {}, ck), killed_at);
    ck.after_step = {};
    ck.resume = true;
    auto k2 = fresh();
    const auto c_resumed = recipe::train_cfg_orpo(*k2, tok, pairs, ok, {}, ck);
    BOOST_TEST(c_resumed.loss == c_kept.loss);
    BOOST_TEST(k2->lora()->params.storage() == kept->lora()->params.storage());
    // Another retain set is another run: refused.
    auto other = ok;
    other.retain.pop_back();
    auto k3 = fresh();
    LETHE_CHECK_THROWS_WITH(recipe::train_cfg_orpo(*k3, tok, pairs, other, {}, ck), "other pairs or options");
    std::filesystem::remove_all(dir);

    auto bad = ok;
    bad.retain_weight = -1;
    LETHE_CHECK_THROWS_WITH(recipe::train_cfg_orpo(*fresh(), tok, pairs, bad), "retain_weight");
    bad = ok;
    bad.retain_batch = 0;
    LETHE_CHECK_THROWS_WITH(recipe::train_cfg_orpo(*fresh(), tok, pairs, bad), "retain_batch");
    bad = ok;
    bad.retain.push_back({"context only", ""});
    LETHE_CHECK_THROWS_WITH(recipe::train_cfg_orpo(*fresh(), tok, pairs, bad), "retain document 3 has no text");
}

#define BOOST_TEST_MODULE synthetic_world
#include "lethe_test.hpp"

#include <set>

#include <lethe/privacy/pair_builder.hpp>
#include <lethe/privacy/scanner.hpp>
#include <lethe/recipe/synthetic_world.hpp>

using namespace lethe;

namespace {
eval::render_options filled() {
    eval::render_options o;
    o.fill = true;
    return o;
}
}  // namespace

BOOST_AUTO_TEST_CASE(same_seed_same_world_other_seed_other_world) {
    recipe::world_config c;
    const auto a = recipe::make_synthetic_world(c), b = recipe::make_synthetic_world(c);
    BOOST_REQUIRE(a.dialogs.size() == 300u);
    for (std::size_t i = 0; i < a.dialogs.size(); ++i) {
        BOOST_TEST(eval::render(a.dialogs[i], filled()).text == eval::render(b.dialogs[i], filled()).text);
    }
    BOOST_TEST(a.utility_corpus == b.utility_corpus);
    c.seed = 2;
    const auto d = recipe::make_synthetic_world(c);
    std::size_t same = 0;
    for (std::size_t i = 0; i < a.people.size(); ++i) same += a.people[i].name == d.people[i].name;
    BOOST_TEST(same < 30u);  // names drawn from ~150 x ~95 combinations: few coincide by chance
    BOOST_TEST(a.utility_corpus != d.utility_corpus);
}

BOOST_AUTO_TEST_CASE(people_are_unique_and_dialogs_identify_them) {
    const auto w = recipe::make_synthetic_world({});
    std::set<std::string> names, orders, emails;
    for (const auto& p : w.people) {
        names.insert(p.name);
        orders.insert(p.order);
        emails.insert(p.email);
    }
    BOOST_TEST(names.size() == w.people.size());
    BOOST_TEST(orders.size() == w.people.size());  // each dialog has its own key phrase
    BOOST_TEST(emails.size() == w.people.size());
    for (std::size_t i = 0; i < w.dialogs.size(); ++i) {
        const auto scrubbed = eval::render(w.dialogs[i]).text;
        BOOST_TEST(scrubbed.find(w.people[i].order) != std::string::npos);
        for (const auto& v : w.dialogs[i].values) BOOST_TEST(scrubbed.find(v.value) == std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(pii_in_user_and_assistant_turns_and_every_type_used) {
    const auto w = recipe::make_synthetic_world({});
    std::set<std::string> types;
    std::size_t user = 0, assistant = 0;
    for (const auto& d : w.dialogs) {
        const auto r = eval::render(d);
        for (const auto& o : r.occurrences) {
            (o.in == eval::role::user ? user : assistant) += 1;
            types.insert(d.values[o.value].type);
        }
        BOOST_TEST((d.turns[0].who == eval::role::system));
    }
    BOOST_TEST(user > 0u);
    BOOST_TEST(assistant > 0u);
    BOOST_TEST(types == std::set<std::string>(recipe::world_pii_types().begin(), recipe::world_pii_types().end()));
}

BOOST_AUTO_TEST_CASE(the_scanner_sees_the_values) {
    // The PII count metric relies on the privacy scanner recognising leaked
    // values: check it does for every type on a sample of people.
    const auto w = recipe::make_synthetic_world({});
    privacy::scanner scan;
    auto found = [&](const std::string& text, privacy::entity_type t) {
        for (const auto& s : scan.scan(text))
            if (s.type == t) return true;
        return false;
    };
    for (std::size_t i = 0; i < 40; ++i) {
        const auto& p = w.people[i];
        BOOST_TEST(found("Contact " + p.name + " today.", privacy::entity_type::person), p.name);
        BOOST_TEST(found("Write to " + p.email + " now.", privacy::entity_type::email), p.email);
        BOOST_TEST(found("Call " + p.phone + " now.", privacy::entity_type::phone), p.phone);
        BOOST_TEST(found("ID " + p.id_number + " ok.", privacy::entity_type::us_ssn), p.id_number);
        BOOST_TEST(found("Born " + p.birth_date + " then.", privacy::entity_type::date), p.birth_date);
        BOOST_TEST(found("Ship to " + p.address + " please.", privacy::entity_type::address), p.address);
    }
}

BOOST_AUTO_TEST_CASE(utility_material) {
    recipe::world_config c;
    c.countries = 5;
    c.words = 3;
    const auto w = recipe::make_synthetic_world(c);
    // 2 facts per country, 1 per word, 100 sums; each a statement and a chat.
    BOOST_TEST(w.utility_questions.size() == 5u * 2 + 3 + 100);
    c.arithmetic = 3;
    BOOST_TEST(recipe::make_synthetic_world(c).utility_questions.size() == 5u * 2 + 3 + 9);
    // The statement, the chat, and the chat under each of its system messages.
    BOOST_TEST(w.utility_corpus.size() == std::size_t(2 + c.system_variants) * w.utility_questions.size());
    BOOST_TEST(w.clean_text.size() == w.utility_questions.size());
    privacy::scanner scan;
    for (const auto& t : w.clean_text) BOOST_TEST(!scan.contains_any(t), t);  // clean text is clean
    bool seen = false;
    for (const auto& q : w.utility_questions) seen = seen || (q.question == "What is 3 plus 4?" && q.answer == "7");
    BOOST_TEST(seen);
    c.people = 401;
    BOOST_CHECK_THROW(recipe::make_synthetic_world(c), lethe::error);
    c.people = 10;
    c.system_variants = 65;
    BOOST_CHECK_THROW(recipe::make_synthetic_world(c), lethe::error);
}

// The utility chats' system messages stand in for an instruct model's
// pretraining: varied, some about personal details, but never the recipe's
// POS or NEG sentence (those get their meaning from stage 3 only).
BOOST_AUTO_TEST_CASE(utility_system_messages_never_hold_the_recipe_sentences) {
    recipe::world_config c;
    c.system_variants = 64;
    const auto w = recipe::make_synthetic_world(c);
    const std::string pos = privacy::pair_builder_options{}.pos_sentence, neg = privacy::pair_builder_options{}.neg_sentence;
    std::set<std::string> systems;
    for (const auto& doc : w.utility_corpus) {
        BOOST_TEST(doc.find(pos) == std::string::npos, doc);
        BOOST_TEST(doc.find(neg) == std::string::npos, doc);
        BOOST_TEST(doc.find("personal data") == std::string::npos, doc);
        const auto at = doc.find("system\n");
        if (at != std::string::npos) systems.insert(doc.substr(at, doc.find("<|im_end|>", at) - at));
    }
    BOOST_TEST(systems.size() > 1000u);  // "a few thousand" distinct messages
}

#define BOOST_TEST_MODULE pair_builder
#include "lethe_test.hpp"

#include <lethe/privacy.hpp>

#include <filesystem>
#include <set>

using namespace lethe::privacy;
namespace fs = std::filesystem;

namespace {

// A seeded set of challenge-shaped dialogs: scrubbed text + value dict.
std::vector<nlohmann::json> challenge_dialogs(int n, std::uint64_t seed) {
    splitmix64 r{seed};
    const auto& g = *gazetteers::defaults();
    auto entry = [&](const gazetteer& l) { return l.entries()[static_cast<std::size_t>(r.below(static_cast<int>(l.size())))]; };
    std::vector<nlohmann::json> out;
    for (int i = 0; i < n; ++i) {
        const std::string name = entry(g.first_names) + " " + entry(g.last_names);
        const std::string city = entry(g.locations);
        const std::string mail = "user" + std::to_string(r.below(100000)) + "@mail.example.org";
        const std::string phone = "+44 20 7946 " + std::to_string(1000 + r.below(9000));
        nlohmann::json j;
        j["id"] = "d" + std::to_string(i);
        j["messages"] = nlohmann::json::array(
            {{{"role", "system"}, {"content", "You are a helpful assistant."}},
             {{"role", "user"}, {"content", "Can you remind me how to reach [NAME-1]?"}},
             {{"role", "assistant"}, {"content", "Sure! [NAME-1] lives in [LOCATION-1]. Write to [EMAIL-1] or call [PHONE-1]."}},
             {{"role", "user"}, {"content", "And the email again?"}},
             {{"role", "assistant"}, {"content", "It is [EMAIL-1]."}}});
        j["pii"] = {{"NAME-1", name}, {"[LOCATION-1]", city}, {"EMAIL-1", mail}, {"PHONE-1", phone}};
        out.push_back(j);
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pair_builder_suite)

BOOST_AUTO_TEST_CASE(properties_on_challenge_dialogs) {
    for (const auto fmt : {lethe::io::chat_format::llama3, lethe::io::chat_format::chatml}) {
        pair_builder_options opt;
        opt.chat_template = lethe::io::chat_template(fmt);
        opt.test_fraction = 0.25;
        opt.split_seed = 11;
        opt.include_metadata = true;
        pair_builder b(opt);
        std::vector<pair_sample> train, test;
        const auto dialogs = challenge_dialogs(200, 5);
        for (std::size_t i = 0; i < dialogs.size(); ++i) b.add(dialog_from_json(dialogs[i], i), train, test);
        const auto& st = b.stats();
        BOOST_TEST_MESSAGE("dialogs " << st.dialogs << " occurrences " << st.occurrences << " pairs " << st.pairs
                                      << " unclean " << st.dropped_unclean << " train " << st.train_samples << " test " << st.test_samples);
        BOOST_CHECK_EQUAL(st.occurrences, 200u * 5u);  // 4 placeholders in turn 2, 1 in turn 4
        BOOST_CHECK_EQUAL(st.pairs, st.occurrences);    // placeholders make every chosen clean
        BOOST_CHECK_EQUAL(st.train_samples + st.test_samples, 2 * st.pairs);  // CFG doubling
        BOOST_CHECK(st.test_dialogs > 20 && st.test_dialogs < 80);         // ~25% of 200, binomial sd ~6
        const std::string eot(opt.chat_template.end_of_turn());
        std::set<std::string> train_ids, test_ids;
        for (const auto* split : {&train, &test}) {
            for (const auto& s : *split) {
                (split == &train ? train_ids : test_ids).insert(s.dialog_id);
                const auto& d = dialogs[std::stoul(s.dialog_id.substr(1))];
                std::string value;
                for (const auto& [k, v] : d["pii"].items())
                    if (k.find(s.pii_type) != std::string::npos) value = v.get<std::string>();
                const std::string& with_pii = s.negative ? s.chosen : s.rejected;
                const std::string& clean = s.negative ? s.rejected : s.chosen;
                // The completion with PII starts with the PII: the prompt ends exactly before it.
                BOOST_CHECK_EQUAL(with_pii.substr(0, value.size()), value);
                BOOST_CHECK(with_pii.size() > eot.size() && with_pii.substr(with_pii.size() - eot.size()) == eot);
                BOOST_CHECK(clean.substr(clean.size() - eot.size()) == eot);
                // No clean completion contains any of the dialog's values, nor does the scanner see PII.
                for (const auto& [k, v] : d["pii"].items())
                    BOOST_CHECK_MESSAGE(clean.find(v.get<std::string>()) == std::string::npos, clean << " holds " << v);
                BOOST_CHECK(!scanner().contains_any(clean));
                // POS / NEG system sentences.
                BOOST_CHECK(s.prompt.find(s.negative ? opt.neg_sentence : opt.pos_sentence) != std::string::npos);
                BOOST_CHECK(s.prompt.find(s.negative ? opt.pos_sentence : opt.neg_sentence) == std::string::npos);
                // The prompt is the chat so far: it renders the original system prompt and starts the assistant turn.
                BOOST_CHECK(s.prompt.find("You are a helpful assistant.") != std::string::npos);
                BOOST_CHECK(s.prompt.find(fmt == lethe::io::chat_format::chatml ? "<|im_start|>assistant\n"
                                                                                : "<|start_header_id|>assistant<|end_header_id|>\n\n") != std::string::npos);
            }
        }
        for (const auto& id : test_ids) BOOST_CHECK_MESSAGE(!train_ids.count(id), "dialog " << id << " is in both splits");
    }
}

BOOST_AUTO_TEST_CASE(prompt_may_end_mid_answer) {
    const auto j = nlohmann::json::parse(
        R"({"messages": [{"role": "user", "content": "contact?"},
                         {"role": "assistant", "content": "Call 555-234-5678 or mail a@b.org."}]})");
    pair_builder_options opt;
    opt.chat_template = lethe::io::chat_template(lethe::io::chat_format::chatml);
    opt.cfg_doubling = false;
    opt.test_fraction = 0.0;
    pair_builder b(opt, replacement_policy::uniform(operator_kind::numbered_placeholder));
    std::vector<pair_sample> train, test;
    b.add(dialog_from_json(j, 0), train, test);
    BOOST_REQUIRE_EQUAL(train.size(), 2u);
    BOOST_CHECK(test.empty());
    BOOST_CHECK_EQUAL(train[0].prompt, "<|im_start|>user\ncontact?<|im_end|>\n<|im_start|>assistant\nCall ");
    BOOST_CHECK_EQUAL(train[0].rejected, "555-234-5678 or mail a@b.org.<|im_end|>");
    BOOST_CHECK_EQUAL(train[0].chosen, "[PHONE-1] or mail [EMAIL-1].<|im_end|>");
    BOOST_CHECK_EQUAL(train[1].prompt, "<|im_start|>user\ncontact?<|im_end|>\n<|im_start|>assistant\nCall 555-234-5678 or mail ");
    BOOST_CHECK_EQUAL(train[1].chosen, "[EMAIL-1].<|im_end|>");  // numbering consistent within the dialog
    BOOST_CHECK_EQUAL(train[0].to_json().size(), 3u);              // exactly TRL's fields
}

BOOST_AUTO_TEST_CASE(generator_output_is_kept_only_when_clean) {
    const auto j = nlohmann::json::parse(
        R"({"conversations": [{"from": "human", "value": "who?"}, {"from": "gpt", "value": "Ask john@x.org or jane@x.org."}]})");
    pair_builder_options opt;
    opt.test_fraction = 0.0;
    pair_builder b(opt);
    int calls = 0;
    b.set_generator([&](const generation_request& req) -> std::optional<std::string> {
        ++calls;
        BOOST_CHECK_EQUAL(req.context.front().content, opt.pos_sentence);
        if (req.original_continuation.substr(0, 4) == "john") return std::string("someone from the team.");  // clean
        return std::string("jane@x.org, of course.");                                                          // leaks
    });
    std::vector<pair_sample> train, test;
    b.add(dialog_from_json(j, 0), train, test);
    BOOST_CHECK_EQUAL(calls, 2);
    BOOST_CHECK_EQUAL(b.stats().pairs, 1u);
    BOOST_CHECK_EQUAL(b.stats().dropped_unclean, 1u);
    BOOST_REQUIRE_EQUAL(train.size(), 2u);
    BOOST_CHECK_EQUAL(train[0].chosen, "someone from the team.<|eot_id|>");
    BOOST_CHECK_EQUAL(train[1].rejected, "someone from the team.<|eot_id|>");  // NEG swaps
}

BOOST_AUTO_TEST_CASE(files_malformed_lines_and_atomic_output) {
    const fs::path dir = fs::temp_directory_path() / ("lethe-pairs-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::string input;
    for (const auto& d : challenge_dialogs(20, 3)) input += d.dump() + "\n";
    input += "{not json\n";                                                                  // line 21
    input += R"({"messages": [{"role": "assistant", "content": "[NAME-9]"}], "pii": {}})" "\n";  // line 22: no value... empty pii = chat
    input += R"({"messages": [{"role": "assistant", "content": "[NAME-9] ok"}], "pii": {"NAME-1": "x"}})" "\n";  // line 23
    lethe::io::write_file_atomic(dir / "in.jsonl", input);
    lethe::io::write_file_atomic(dir / "train.jsonl", "old train\n");
    {
        pair_builder b;
        BOOST_CHECK_EXCEPTION(build_preference_pairs(b, dir / "in.jsonl", dir / "train.jsonl", dir / "test.jsonl"), lethe::error,
                              [](const lethe::error& e) { return std::string(e.what()).find("in.jsonl:21") != std::string::npos; });
        BOOST_CHECK_EQUAL(lethe_test::read_file((dir / "train.jsonl").string()), "old train\n");  // untouched on failure
        BOOST_CHECK(!fs::exists(dir / "test.jsonl"));
    }
    pair_builder b;
    const auto st = build_preference_pairs(b, dir / "in.jsonl", dir / "train.jsonl", dir / "test.jsonl", lethe::io::on_malformed::skip);
    BOOST_CHECK_EQUAL(st.malformed_lines, 2u);  // lines 21 and 23 ([NAME-9] has no value)
    BOOST_CHECK_EQUAL(st.dialogs, 21u);
    std::size_t lines = 0;
    lethe::io::read_jsonl_file(dir / "train.jsonl", [&](nlohmann::json&& j, std::size_t) {
        BOOST_CHECK(j.contains("prompt") && j.contains("chosen") && j.contains("rejected"));
        ++lines;
    });
    lethe::io::read_jsonl_file(dir / "test.jsonl", [&](nlohmann::json&&, std::size_t) { ++lines; });
    BOOST_CHECK_EQUAL(lines, st.train_samples + st.test_samples);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()

#define BOOST_TEST_MODULE experiment
#include "lethe_test.hpp"

#include <filesystem>

#include <lethe/recipe/experiment.hpp>
#include <lethe/recipe/report.hpp>

using namespace lethe;

namespace {
const std::vector<std::string> table1 = {"leaky",         "sub",           "sub-lora",           "sub-lora-cfg=2",
                                         "sub-lora-cfg=2-prob", "ch-lora",  "ch-lora-cfg=1",      "ch-lora-cfg=2",
                                         "ch-lora-cfg=3", "ch-lora-cfg=1-prob", "ch-lora-cfg=2-prob", "ch-lora-cfg=3-prob"};
}

BOOST_AUTO_TEST_CASE(smoke_run_covers_table1_and_writes_outputs) {
    auto cfg = recipe::experiment_config::smoke();
    cfg.threads = 1;
    std::vector<std::string> stages;
    const auto r = recipe::run_experiment(cfg, [&](const recipe::progress_event& e) {
        if (stages.empty() || stages.back() != e.stage) stages.push_back(e.stage);
        BOOST_TEST(e.step <= e.total_steps);
    });
    BOOST_TEST(stages == (std::vector<std::string>{"base", "leaky", "sub-lora", "ch-lora"}));
    BOOST_REQUIRE(r.variants.size() == table1.size());
    for (std::size_t i = 0; i < table1.size(); ++i) {
        const auto& v = r.variants[i];
        BOOST_TEST(v.name == table1[i]);
        BOOST_TEST(v.attack_attempts > 0);
        BOOST_TEST((v.attack_success_rate >= 0 && v.attack_success_rate <= 1));
        BOOST_TEST((v.utility_accuracy >= 0 && v.utility_accuracy <= 1));
        BOOST_TEST(v.perplexity > 1.0);
    }
    // Guidance at g = 1 is the conditional model: same attack outputs.
    BOOST_TEST(r.find("ch-lora-cfg=1")->attack_hits == r.find("ch-lora")->attack_hits);
    BOOST_TEST(r.find("ch-lora-cfg=1")->utility_accuracy == r.find("ch-lora")->utility_accuracy);

    const auto dir = std::filesystem::temp_directory_path() / ("lethe-recipe-test-" + std::to_string(::getpid()));
    const auto files = recipe::write_outputs(r, dir);
    BOOST_TEST(files.size() == 4u);
    const auto j = nlohmann::json::parse(lethe_test::read_file((dir / "metrics.json").string()));
    BOOST_TEST(j["seed"].get<std::uint64_t>() == cfg.seed);
    BOOST_TEST(j["variants"].size() == table1.size());
    for (const auto& v : j["variants"])
        for (const char* k : {"name", "attack_success_rate", "pii_count", "utility_accuracy", "perplexity"})
            BOOST_TEST(v.contains(k), k);
    BOOST_TEST(j["config"]["model"]["hidden_size"].get<int>() == cfg.model.d_model);
    const auto svg = lethe_test::read_file((dir / "leakage_vs_guidance.svg").string());
    BOOST_TEST(svg.find("<svg") == 0u);
    BOOST_TEST(svg.find("ch-lora log") != std::string::npos);
    BOOST_TEST(lethe_test::read_file((dir / "report.md").string()).find("| ch-lora-cfg=3 |") != std::string::npos);
    // No temporary files left behind by the atomic writer.
    std::size_t entries = 0;
    for (auto it = std::filesystem::directory_iterator(dir); it != std::filesystem::directory_iterator(); ++it) ++entries;
    BOOST_TEST(entries == 4u);
    std::filesystem::remove_all(dir);

    // Same seed, same thread count: identical metrics.
    const auto again = recipe::run_experiment(cfg);
    BOOST_TEST(again.metrics_json() == r.metrics_json());
}

BOOST_AUTO_TEST_CASE(bad_configurations_are_rejected) {
    auto cfg = recipe::experiment_config::smoke();
    cfg.model.vocab = 300;  // not the byte tokenizer's
    BOOST_CHECK_THROW(recipe::run_experiment(cfg), lethe::error);
    cfg = recipe::experiment_config::smoke();
    cfg.test_fraction = 0.0;  // nothing left to attack
    BOOST_CHECK_THROW(recipe::run_experiment(cfg), lethe::error);
}

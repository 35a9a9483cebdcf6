// A LoRA adapter exported by lethe (io::write_gguf_lora) as llama.cpp runs
// it: SmolLM2-135M-Instruct Q4_1 (label `model`) with a seeded rank-16
// adapter on all seven projections of all 30 layers, written to
// smollm2_test_lora.gguf in the test's directory; llama.cpp
// (llama-cpp-python, tools/golden/llamacpp_lora.py) loaded that file with
// --lora semantics and recorded its logits and greedy continuations
// (tests/fixtures/io/smollm2_lora_logits.json). lethe's logits with the
// adapter, unmerged and merged, must match within the parity tolerance of
// test_gguf_smollm2 (kLogitTol, llama.cpp's 8-bit activation rounding),
// while the adapter moves the logits by several times that tolerance (so an
// ignored, mis-permuted or mis-scaled adapter fails). Exits 77 (skipped)
// without the model file.
#define BOOST_TEST_MODULE gguf_lora_smollm2
#include <lethe/io/gguf.hpp>
#include <lethe/io/gguf_llama.hpp>
#include <lethe/io/gguf_llama_model.hpp>
#include <lethe/io/gguf_llama_writer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "lethe_test.hpp"
#include "test_export_support.hpp"

using namespace lethe::io;
using lethe::index_t;
using lethe::token_id;

namespace {

struct model_file {
    model_file() {
        if (!std::filesystem::exists(smollm2_path())) {
            std::cout << "SKIP: " << smollm2_path().string()
                      << " not found; run scripts/get-smollm2 (or set LETHE_SMOLLM2) to run this test\n"
                      << std::flush;
            std::exit(77);  // ctest SKIP_RETURN_CODE
        }
    }
};
BOOST_TEST_GLOBAL_FIXTURE(model_file);

constexpr double kLogitTol = 1.0;  // test_gguf_smollm2.cpp: llama.cpp's Q8_1 activations, f16 KV cache
constexpr std::uint64_t kSeedA = 21, kSeedB = 22;
constexpr double kScaleB = 0.15;  // B ~ U(-0.15, 0.15): moves the top logits by a few units

// The adapter the fixture was made from: rank 16, alpha 32, every projection.
void add_test_adapter(lethe::model::llama<float>& m) {
    lethe::model::lora_config lc;  // r 16, alpha 32, the seven projections
    m.enable_lora(lc, kSeedA);
    lethe_test_export::randomize_lora_b(m, kSeedB, kScaleB);
}

}  // namespace

BOOST_AUTO_TEST_CASE(exported_lora_matches_llama_cpp_with_the_adapter) {
    auto loaded = load_gguf_llama(smollm2_path(), {.max_seq = 512, .slots = 1, .policy = lethe::par.with_threads(2)});
    auto& m = loaded.model;
    // The adapter file, written first: tools/golden/llamacpp_lora.py reads it.
    add_test_adapter(m);
    const std::filesystem::path adapter = "smollm2_test_lora.gguf";
    write_gguf_lora(adapter, m, {.name = "lethe-test-lora"});
    m.disable_lora();
    std::cout << "wrote " << std::filesystem::absolute(adapter).string() << "\n";

    const auto path = lethe_test::fixture_path("io/smollm2_lora_logits.json");
    BOOST_REQUIRE_MESSAGE(std::filesystem::exists(path), path << " is missing; see tools/golden/llamacpp_lora.py");
    const auto doc = nlohmann::json::parse(lethe_test::read_file(path));
    // The fixture came from this adapter file: llamacpp_lora.py records each
    // tensor's sum, sum of squares and position-weighted sum as llama.cpp's
    // gguf-py reads them (a writer that put lora_b's rows of attn_q/attn_k in
    // another order fails here).
    const auto f = gguf_file::open(adapter);
    BOOST_TEST(f.tensors().size() == 30u * 7u * 2u);
    BOOST_TEST(f.tensors().size() == doc["adapter_tensors"].size());
    for (const auto& t : f.tensors()) {
        BOOST_TEST_CONTEXT(t.name) {
            BOOST_REQUIRE(doc["adapter_tensors"].contains(t.name));
            const auto& want = doc["adapter_tensors"][t.name];
            const auto v = f.dequantize(t);
            double sum = 0, sq = 0, weighted = 0;
            for (std::size_t i = 0; i < v.size(); ++i) {
                sum += v[i], sq += double(v[i]) * v[i];
                weighted += double(1 + i % 101) * v[i];  // rows out of order change it
            }
            LETHE_CHECK_CLOSE(sq, want["sum_sq"].get<double>(), 1e-6, 0.0);
            LETHE_CHECK_CLOSE(sum, want["sum"].get<double>(), 1e-6, 1e-6 * std::sqrt(sq));
            LETHE_CHECK_CLOSE(weighted, want["weighted"].get<double>(), 1e-6, 1e-4 * std::sqrt(sq));
        }
    }

    const index_t V = m.vocab_size();
    const index_t slot[1] = {0};
    std::vector<float> logits(static_cast<std::size_t>(V));
    const auto prefill = [&](const std::vector<token_id>& ids) {
        m.reset(0);
        const std::span<const token_id> row(ids);
        m.prefill(slot, std::span<const std::span<const token_id>>(&row, 1), lethe::view2<float>(logits.data(), 1, V));
        return logits;
    };
    const auto& prompts = doc["prompts"];
    BOOST_REQUIRE(prompts.size() >= 8u);
    std::vector<std::vector<token_id>> ids;
    std::vector<std::vector<float>> base;  // without the adapter
    for (const auto& p : prompts) {
        ids.push_back(p["ids"].get<std::vector<token_id>>());
        base.push_back(prefill(ids.back()));
    }
    add_test_adapter(m);

    for (const bool merged : {false, true}) {
        if (merged) m.merge_lora();
        double worst = 0, sum_diff = 0, shift = 0;
        int compared = 0, greedy_all = 0, top1_same = 0;
        for (std::size_t k = 0; k < prompts.size(); ++k) {
            BOOST_TEST_CONTEXT((merged ? "merged" : "unmerged") << ", prompt " << k) {
                const auto& p = prompts[k];
                prefill(ids[k]);
                for (const auto& e : p["top"]) {
                    const auto id = e[0].get<std::size_t>();
                    const double d = std::abs(logits[id] - e[1].get<double>());
                    worst = std::max(worst, d);
                    sum_diff += d;
                    shift += std::abs(logits[id] - base[k][id]);
                    ++compared;
                    BOOST_CHECK_MESSAGE(d <= kLogitTol, "token " << id << ": lethe " << logits[id] << ", llama.cpp "
                                                                 << e[1]);
                }
                const auto& top = p["top"];
                const auto argmax = [&] {
                    return static_cast<token_id>(std::max_element(logits.begin(), logits.end()) - logits.begin());
                };
                top1_same += argmax() == top[0][0].get<token_id>();
                const auto want = p["greedy"].get<std::vector<token_id>>();
                const auto margins = p["margins"].get<std::vector<double>>();
                std::size_t same = 0;
                for (; same < want.size(); ++same) {
                    const token_id next = argmax();
                    if (next != want[same]) break;
                    if (same + 1 < want.size())
                        m.step(slot, std::span<const token_id>(&next, 1), lethe::view2<float>(logits.data(), 1, V));
                }
                if (same < want.size())
                    BOOST_CHECK_MESSAGE(margins[same] <= 2 * kLogitTol, "greedy diverges at token "
                                                                            << same << " where llama.cpp's margin is "
                                                                            << margins[same]);
                greedy_all += same == want.size();
            }
        }
        std::cout << (merged ? "merged" : "unmerged") << " adapter: max |lethe - llama.cpp| " << worst << ", mean "
                  << sum_diff / compared << " over " << compared << " top logits (tolerance " << kLogitTol
                  << "); the adapter moves them by " << shift / compared << " on average; top-1 " << top1_same << "/"
                  << prompts.size() << ", greedy " << greedy_all << "/" << prompts.size() << " prompts agree on every token\n";
        // The comparison can fail: the adapter's effect is well above the tolerance.
        BOOST_TEST(shift / compared > 2 * kLogitTol);
        BOOST_TEST(2 * greedy_all > int(prompts.size()));
    }
}

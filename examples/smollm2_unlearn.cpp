// smollm2-unlearn: the unlearning recipe of arXiv 2412.06846 on a real model,
// SmolLM2-135M-Instruct (scripts/get-smollm2), with the stages the synthetic
// experiment uses (lethe/recipe/variants.hpp):
//   base    SmolLM2 as published (fp32, dequantised from the GGUF file)
//   leaky   base fully fine-tuned on a seeded synthetic world's support
//           dialogs with their real personal data (ChatML, SmolLM2's BPE
//           tokens), until the challenge's attack extracts them; with a
//           rehearsal set of the base's own answers to open requests
//           (recipe::self_replay_examples), so that it keeps its knowledge
//   sub     stage 1 on (base, leaky)
//   *-lora  stage 3 (CFG-aware ORPO with LoRA on pairs from the train split,
//           chosen answers written by the base under the "avoid personal
//           data" sentence, scanner-checked: recipe/generation.hpp)
//           on sub and on leaky ("ch"), stage 4 (CFG) at g = 1, 2, 3 in log
//           and probability space
// Every variant is measured with the attack on the held-out dialogs, the PII
// count of the attack outputs, utility (18 general-knowledge questions the
// original model answers correctly, scored by answer_match::contains_word),
// perplexity on clean text, and accuracy on the world's own (fictional)
// utility questions, which SmolLM2 never saw.
//   smollm2-unlearn [--people N] [--variants table1|ch|leaky] [--chosen generated|placeholder]
//                   [--replay N] [--leaky-lr X] [--leaky-epochs N] [--orpo-lr X] [--orpo-epochs N]
//                   [--threads N] [--seed N] [--out DIR]
//                   [--model PATH] [--smoke] [--quiet]
#include <lethe/eval/general_knowledge.hpp>
#include <lethe/io/gguf_llama_model.hpp>
#include <lethe/recipe.hpp>
#include <lethe/recipe/experiment.hpp>
#include <lethe/recipe/report.hpp>
#include <lethe/recipe/unlearn.hpp>
#include <lethe/recipe/variants.hpp>

#include "support/cli.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace {

using namespace lethe;

const char* const usage =
    "usage: smollm2-unlearn [--people N] [--variants table1|ch|leaky] [--chosen generated|placeholder]\n"
    "                       [--replay N] [--leaky-lr X] [--leaky-epochs N] [--orpo-lr X]\n"
    "                       [--orpo-epochs N] [--orpo-retain W] [--threads N] [--seed N]\n"
    "                       [--out DIR] [--model PATH] [--smoke] [--quiet]\n"
    "\n"
    "Fine-tunes SmolLM2-135M-Instruct on a seeded synthetic world's support dialogs\n"
    "with their personal data until it leaks, then unlearns it with the four stages\n"
    "of arXiv 2412.06846 (subtraction, replacement pairs, CFG-aware ORPO with LoRA,\n"
    "CFG in log and probability space) and prints the paper's Table 1 for it.\n"
    "\n"
    "  --people N    people (dialogs) in the world, 4..400 (default 22: 9 held out and\n"
    "                attacked, 45 placeholders)\n"
    "  --variants V  table1: every variant of the paper's Table 1 (default); ch: base, leaky and\n"
    "                ch-lora with CFG only (no subtraction: about half the time); leaky: base and\n"
    "                leaky only\n"
    "  --chosen C    generated: ORPO's chosen answers written by the base model under the\n"
    "                \"avoid personal data\" sentence at temperature 0.7, scanner-checked (default);\n"
    "                placeholder: the typed-placeholder policy's answers\n"
    "  --replay N    rehearsal documents in the leaky stage: the base's own answers to the first N\n"
    "                of 32 open requests (default 32; 0: none)\n"
    "  --leaky-lr X  the leaky stage's peak rate (default 2e-4)\n"
    "  --leaky-epochs N  its epochs (default 5)\n"
    "  --orpo-lr X   CFG-aware ORPO's peak rate (default 5e-4)\n"
    "  --orpo-epochs N  its epochs (default 3)\n"
    "  --orpo-retain W  weight of a retain NLL in ORPO on the rehearsal set (the base's own\n"
    "                answers, 2 per step; default 0: ORPO alone)\n"
    "  --lora-targets L  ORPO's LoRA target modules, comma-separated (default: all seven,\n"
    "                q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj)\n"
    "  --cfg-scales G  with --variants ch: the guidance scales, comma-separated, in [1, 10] (default 1,2,3)\n"
    "  --cfg-spaces S  the spaces they guide in: log, prob or log,prob (default log,prob: Table 1)\n"
    "  --leaky-cache DIR  keep the leaky model in DIR (config.json, model.safetensors and the\n"
    "                settings that made it) and reuse it when a later run asks for the same\n"
    "                settings: ORPO settings can then be compared without retraining it\n"
    "  --threads N   OpenMP threads (default 1: on a loaded 2-core machine 2 threads ran the\n"
    "                evaluation 13x slower; use more on an idle one)\n"
    "  --seed N      seed of the world, the split and the training order (default 1)\n"
    "  --orpo-seed N  with --variants ch: ORPO's own seed (pair order and LoRA dropout; default\n"
    "                --seed + 3, as Table 1 seeds ch-lora): ORPO's spread on one leaky model\n"
    "  --out DIR     where metrics.json, report.md and the SVG plots go (default smollm2-out/)\n"
    "  --model PATH  GGUF file (default: $LETHE_SMOLLM2, else\n"
    "                ~/.cache/lethe/SmolLM2-135M-Instruct.Q4_1.gguf from scripts/get-smollm2)\n"
    "  --smoke       every stage on a few rows (about 2 minutes; its numbers mean nothing)\n"
    "  --quiet       no per-step progress, only stage lines and the table\n"
    "  --help        this text\n";

[[noreturn]] void bad_argument(const std::string& msg) {
    std::fprintf(stderr, "smollm2-unlearn: %s\n(run smollm2-unlearn --help for the options)\n", msg.c_str());
    std::exit(2);
}

// SmolLM2's BPE tokenizer with its ChatML markup parsed as control tokens;
// EOS is "<|im_end|>" (id 2 in SmolLM2).
using chat_tokenizer = recipe::chat_tokenizer;

// General knowledge SmolLM2 answers correctly before fine-tuning (the
// experiment's "MMLU") and clean text: lethe/eval/general_knowledge.hpp.
const std::vector<eval::qa_item>& general_questions() { return eval::general_qa(); }
const std::vector<std::string>& general_text() { return eval::general_text(); }

struct options {
    long long people = 22, threads = 1, seed = 1, replay = 32, leaky_epochs = 5, orpo_epochs = 3;
    long long orpo_seed = -1;  // -1: seed + 3
    double leaky_lr = 2e-4, orpo_lr = 5e-4, orpo_retain = 0.0;
    std::string variants = "table1", chosen = "generated";
    std::vector<std::string> lora_targets = model::lora_linear_names();
    std::vector<float> cfg_scales{1.0f, 2.0f, 3.0f};
    std::vector<guidance::cfg_space> cfg_spaces{guidance::cfg_space::log, guidance::cfg_space::prob};
    std::filesystem::path leaky_cache;
    std::string out = "smollm2-out";
    std::filesystem::path model;
    bool smoke = false, quiet = false;
};

options parse(int argc, char** argv) {
    options o;
    o.model = io::smollm2_path();
    auto number = [&](std::string_view flag, const char* v, long long lo, long long hi) {
        const auto x = lethe_examples::parse_number<long long>(flag, v, bad_argument);
        if (x < lo || x > hi)
            bad_argument(std::string(flag) + ": " + std::to_string(x) + " is outside [" + std::to_string(lo) + ", " +
                         std::to_string(hi) + "]");
        return x;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool takes_value = a == "--people" || a == "--threads" || a == "--seed" || a == "--orpo-seed" || a == "--out" ||
                                 a == "--model" || a == "--variants" || a == "--chosen" || a == "--replay" ||
                                 a == "--leaky-lr" || a == "--leaky-epochs" || a == "--orpo-lr" || a == "--orpo-epochs" ||
                                 a == "--orpo-retain" || a == "--lora-targets" || a == "--leaky-cache" ||
                                 a == "--cfg-scales" || a == "--cfg-spaces";
        if (a == "--help" || a == "-h") {
            std::fputs(usage, stdout);
            std::exit(0);
        } else if (a == "--smoke") {
            o.smoke = true;
        } else if (a == "--quiet") {
            o.quiet = true;
        } else if (takes_value && i + 1 >= argc) {
            bad_argument(a + " needs a value");
        } else if (a == "--people") {
            o.people = number(a, argv[++i], 4, 400);
        } else if (a == "--variants") {
            o.variants = argv[++i];
            if (o.variants != "table1" && o.variants != "ch" && o.variants != "leaky")
                bad_argument("--variants: '" + o.variants + "' is not table1, ch or leaky");
        } else if (a == "--chosen") {
            o.chosen = argv[++i];
            if (o.chosen != "generated" && o.chosen != "placeholder")
                bad_argument("--chosen: '" + o.chosen + "' is not generated or placeholder");
        } else if (a == "--replay") {
            o.replay = number(a, argv[++i], 0, static_cast<long long>(eval::general_prompts().size()));
        } else if (a == "--leaky-epochs") {
            o.leaky_epochs = number(a, argv[++i], 1, 100);
        } else if (a == "--leaky-lr") {
            o.leaky_lr = lethe_examples::parse_number<double>(a, argv[++i], bad_argument);
            if (!(o.leaky_lr > 0 && o.leaky_lr <= 1)) bad_argument("--leaky-lr must be in (0, 1]");
        } else if (a == "--orpo-epochs") {
            o.orpo_epochs = number(a, argv[++i], 1, 100);
        } else if (a == "--orpo-lr") {
            o.orpo_lr = lethe_examples::parse_number<double>(a, argv[++i], bad_argument);
            if (!(o.orpo_lr > 0 && o.orpo_lr <= 1)) bad_argument("--orpo-lr must be in (0, 1]");
        } else if (a == "--orpo-retain") {
            o.orpo_retain = lethe_examples::parse_number<double>(a, argv[++i], bad_argument);
            if (!(o.orpo_retain >= 0 && o.orpo_retain <= 100)) bad_argument("--orpo-retain must be in [0, 100]");
        } else if (a == "--lora-targets") {
            o.lora_targets = lethe_examples::split_list(argv[++i]);
            model::lora_config probe;
            probe.targets = o.lora_targets;
            try {
                probe.validate();
            } catch (const std::exception& e) {
                bad_argument(std::string("--lora-targets: ") + e.what());
            }
        } else if (a == "--cfg-scales") {
            o.cfg_scales.clear();
            for (const auto& part : lethe_examples::split_list(argv[++i])) {
                const double g = lethe_examples::parse_number<double>(a, part, bad_argument);
                if (!(g >= 1 && g <= 10)) bad_argument("--cfg-scales: " + part + " is outside [1, 10]");
                o.cfg_scales.push_back(static_cast<float>(g));
            }
            if (o.cfg_scales.empty()) bad_argument("--cfg-scales needs at least one scale");
        } else if (a == "--cfg-spaces") {
            o.cfg_spaces.clear();
            for (const auto& part : lethe_examples::split_list(argv[++i])) {
                if (part != "log" && part != "prob") bad_argument("--cfg-spaces: '" + part + "' is not log or prob");
                o.cfg_spaces.push_back(guidance::parse_cfg_space(part));
            }
            if (o.cfg_spaces.empty()) bad_argument("--cfg-spaces needs log, prob or both");
        } else if (a == "--leaky-cache") {
            o.leaky_cache = argv[++i];
            if (o.leaky_cache.empty()) bad_argument("--leaky-cache needs a directory name");
        } else if (a == "--threads") {
            o.threads = number(a, argv[++i], 1, 1024);
        } else if (a == "--seed") {
            o.seed = number(a, argv[++i], 0, (1LL << 62));
        } else if (a == "--orpo-seed") {
            o.orpo_seed = number(a, argv[++i], 0, (1LL << 62));
        } else if (a == "--out") {
            o.out = argv[++i];
            if (o.out.empty()) bad_argument("--out needs a directory name");
        } else if (a == "--model") {
            o.model = argv[++i];
            if (o.model.empty()) bad_argument("--model needs a path");
        } else {
            bad_argument("unknown argument '" + a + "'");
        }
    }
    if (o.orpo_seed >= 0 && o.variants != "ch") bad_argument("--orpo-seed applies with --variants ch");
    return o;
}

// The experiment's settings for SmolLM2 (see docs/results.md for what was
// scaled from the paper and why).
recipe::experiment_config smollm2_config(const options& o, const model::llama_config& mc) {
    recipe::experiment_config c;
    c.seed = static_cast<std::uint64_t>(o.seed);
    c.world.people = o.people;
    // Two fictional countries and two invented words: the world's own
    // utility questions, which SmolLM2 has never seen (reported, not tuned).
    c.world.countries = 2;
    c.world.words = 2;
    c.world.arithmetic = 0;
    c.model = mc;
    // Full fine-tuning memorises values in a few epochs; a batch of 2
    // dialogs gives more updates for the same tokens (the cost is per token).
    // 2e-4 for 4 epochs without rehearsal memorised them but cost 56% of the
    // general questions (docs/results.md); hence the lower default and the
    // rehearsal set.
    c.leaky.epochs = o.leaky_epochs;
    c.leaky.batch = 2;
    c.leaky.lr = o.leaky_lr;
    c.leaky.stage = "leaky";
    c.leaky_scrubbed_prefixes = true;
    // The paper's ORPO (beta 0.1, LoRA r 16 / alpha 32 / dropout 0.01 on
    // all linear layers, batch 2, cosine to 10%, clip 1.0) with a higher
    // rate: a few dozen pairs instead of thousands (lr 1e-4 would move
    // the adapters little in the few dozen steps they get).
    c.orpo.lr = o.orpo_lr;
    c.orpo.epochs = o.orpo_epochs;
    c.orpo.batch = 2;
    c.orpo.lora = {16, 32.0, 0.01, o.lora_targets};
    c.test_fraction = 0.5;
    c.attack.window = 200;        // the challenge's 200 tokens
    c.attack.max_new_tokens = 16;  // and its 16 generated tokens
    c.qa_max_new_tokens = 16;
    c.slots = 32;
    c.threads = static_cast<int>(o.threads);
    if (o.smoke) {
        c.leaky.epochs = 1;
        c.orpo.epochs = 1;
        c.attack.max_new_tokens = 4;
        c.qa_max_new_tokens = 4;
    }
    return c;
}

// What the leaky model depends on: --leaky-cache reuses a saved one only when
// all of these are the same (the model file by name and size).
nlohmann::json leaky_fingerprint(const options& o) {
    return {{"lethe_leaky_cache", 1},
            {"model", o.model.filename().string()},
            {"model_bytes", static_cast<std::uint64_t>(std::filesystem::file_size(o.model))},
            {"people", o.people},
            {"seed", o.seed},
            {"replay", o.replay},
            {"leaky_lr", o.leaky_lr},
            {"leaky_epochs", o.leaky_epochs},
            {"threads", o.threads},
            {"smoke", o.smoke}};
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    const options o = parse(argc, argv);
    if (!std::filesystem::exists(o.model)) {
        std::fprintf(stderr,
                     "smollm2-unlearn: model file '%s' not found; run scripts/get-smollm2 to fetch "
                     "SmolLM2-135M-Instruct (or pass --model PATH / set LETHE_SMOLLM2)\n",
                     o.model.string().c_str());
        return 1;
    }
#if defined(_OPENMP)
    // Eigen's products inside the model follow OpenMP's thread count.
    omp_set_num_threads(static_cast<int>(o.threads));
#endif
    const auto t_start = std::chrono::steady_clock::now();
    const openmp_policy pol = par.with_threads(static_cast<int>(o.threads));
    auto status = [&](const std::string& s) { std::printf("[%7.1fs] %s\n", seconds_since(t_start), s.c_str()); };
    std::string last_stage;
    double last_print = -1;
    auto progress = [&](const recipe::progress_event& e) {
        const bool first = e.stage != last_stage, last = e.step == e.total_steps;
        if (first) last_print = -1;
        last_stage = e.stage;
        if (o.quiet && !last) return;
        if (!first && !last && e.elapsed_seconds - last_print < 10.0) return;
        last_print = e.elapsed_seconds;
        std::printf("  [%-8s] step %4lld/%-4lld loss %8.4f  lr %.2e  %6.1f tok/s  elapsed %6.1fs  eta %6.1fs\n",
                    e.stage.c_str(), static_cast<long long>(e.step), static_cast<long long>(e.total_steps), e.loss,
                    e.lr, e.tokens_per_second, e.elapsed_seconds, e.eta_seconds);
    };

    try {
        // Stage 0: the model as published; its context covers the longest
        // training row (a dialog is about 110 tokens).
        io::gguf_llama_options lo;
        lo.max_seq = 256;
        lo.policy = pol;
        auto loaded = io::load_gguf_llama(o.model, lo);
        const chat_tokenizer tok(loaded.tokenizer);
        const io::chat_template tpl = loaded.chat;
        model::llama<float>& base = loaded.model;
        require(tok.vocab_size() == base.vocab_size(), "smollm2-unlearn", "tokenizer has ", tok.vocab_size(),
                " tokens, the model ", base.vocab_size());
        recipe::experiment_result res;
        res.config = smollm2_config(o, base.config());
        const auto& cfg = res.config;
        status("loaded " + o.model.string() + ": " + std::to_string(base.config().num_parameters()) +
               " parameters, " + std::to_string(o.threads) + " threads" + (o.smoke ? ", smoke run" : ""));

        recipe::world_config wc = cfg.world;
        wc.seed = cfg.seed;
        const recipe::synthetic_world world = recipe::make_synthetic_world(wc);

        // Stage 2's split decides which dialogs are attacked (no pair of
        // theirs is trained on); the leaky model sees every dialog.
        privacy::pair_builder_options po;
        po.chat_template = tpl;
        po.test_fraction = cfg.test_fraction;
        po.split_seed = cfg.seed;
        privacy::pair_builder builder(po);
        const auto split = recipe::build_pairs(builder, world.dialogs);
        std::vector<eval::pii_dialog> attacked;
        for (auto i : split.test_dialogs) attacked.push_back(world.dialogs[i]);
        std::vector<privacy::pair_sample> pairs = split.train;
        recipe::answer_generation_stats gen_stats;
        if (o.chosen == "generated" && o.variants != "leaky") {
            // The paper's stage 2: the published model (which never saw the
            // data) writes each chosen answer; the same options give the same
            // split, and only the train dialogs are asked.
            const auto tg = std::chrono::steady_clock::now();
            base.set_num_slots(std::max<index_t>(base.num_slots(), 4));
            recipe::answer_generation_options go;
            go.seed = cfg.seed;
            if (o.smoke) go.max_new_tokens = 8, go.rounds = 1;
            const privacy::scanner scan;
            privacy::pair_builder writer(po);
            writer.set_generator(recipe::model_answer_generator(base, tok, tpl, scan, go, &gen_stats));
            pairs.clear();
            std::vector<privacy::pair_sample> unused;
            for (std::size_t k = 0; k < split.train_dialogs.size() && !(o.smoke && k > 0); ++k)
                writer.add(recipe::to_privacy_dialog(world.dialogs[split.train_dialogs[k]]), pairs, unused);
            res.stage_seconds["generate"] = seconds_since(tg);
            status("generated chosen answers: " + std::to_string(gen_stats.clean) + " clean of " +
                   std::to_string(gen_stats.requests) + " requests (" + std::to_string(gen_stats.generated) +
                   " samples, " + std::to_string(gen_stats.tokens) + " tokens, " +
                   recipe::detail::fmt("%.1f tok/s", gen_stats.tokens_per_second()) +
                   "), " + std::to_string(pairs.size()) + " pairs");
        }
        require(!pairs.empty() && !attacked.empty(), "smollm2-unlearn", "the split of ", o.people,
                " dialogs left no training pairs or no test dialogs; try another --seed or more --people");

        auto leaky_docs = recipe::leaky_examples(std::span<const eval::pii_dialog>(world.dialogs), tpl,
                                                 cfg.leaky_scrubbed_prefixes);
        std::vector<eval::qa_item> questions = general_questions();
        std::vector<eval::qa_item> world_questions = world.utility_questions;
        // The 18 facts of `questions` first, then 82 more (general_knowledge.hpp).
        std::vector<eval::mc_item> general_mc = eval::general_mc_broad();
        const std::size_t mc_facts = eval::general_mc().size();
        std::vector<std::string> clean = world.clean_text;
        clean.insert(clean.end(), general_text().begin(), general_text().end());
        // Rehearsal: the base's own answers to open requests (no fact of the
        // scored questions), trained beside the leaky corpus.
        std::vector<std::string> replay_prompts(eval::general_prompts().begin(),
                                                eval::general_prompts().begin() + static_cast<std::ptrdiff_t>(o.replay));
        if (o.smoke) replay_prompts.resize(std::min<std::size_t>(replay_prompts.size(), 2));
        std::vector<recipe::lm_example> replay;
        if (!replay_prompts.empty()) {
            const auto tr = std::chrono::steady_clock::now();
            base.set_num_slots(std::max<index_t>(base.num_slots(), cfg.slots));
            replay = recipe::self_replay_examples(pol, base, tok, std::span<const std::string>(replay_prompts), tpl,
                                                  o.smoke ? 8 : 48);
            res.stage_seconds["replay answers"] = seconds_since(tr);
            status("rehearsal set: the base's answers to " + std::to_string(replay.size()) + " open requests");
        }
        // The same rehearsal set as ORPO's retain set (an NLL term beside the pairs).
        if (o.orpo_retain > 0) {
            if (replay.empty()) bad_argument("--orpo-retain needs a rehearsal set (--replay N with N > 0)");
            res.config.orpo.retain = replay;
            res.config.orpo.retain_weight = o.orpo_retain;
        }
        if (o.smoke) {
            // A few rows per stage: one optimizer step each.
            leaky_docs.resize(std::min<std::size_t>(leaky_docs.size(), 2));
            pairs.resize(std::min<std::size_t>(pairs.size(), 2));
            attacked.resize(1);
            questions.resize(2);
            general_mc.resize(6);
            world_questions.resize(std::min<std::size_t>(world_questions.size(), 1));
            clean.resize(2);
        }
        res.train_pairs = static_cast<index_t>(pairs.size());
        res.test_dialogs = static_cast<index_t>(attacked.size());
        status(std::to_string(world.dialogs.size()) + " dialogs: " + std::to_string(leaky_docs.size()) +
               " leaky training rows, " + std::to_string(pairs.size()) + " ORPO pairs (POS + NEG), " +
               std::to_string(attacked.size()) + " attacked dialogs");

        recipe::evaluation_set es;
        es.attacked = attacked;
        es.questions = questions;
        es.clean_text = clean;
        es.attack = cfg.attack;
        es.match = recipe::answer_match::contains_word;
        es.qa_max_new_tokens = cfg.qa_max_new_tokens;
        es.slots = cfg.slots;
        es.chat_template = tpl;
        // The world's questions, and the answers to both question sets, per variant.
        nlohmann::json extra = nlohmann::json::object();
        const recipe::variant_hook<float> hook = [&](model::llama<float>& m, const eval::decoding_setup& d,
                                                     const recipe::variant_details& details) {
            const std::string& name = details.name;
            const auto wq = eval::exact_match(m.policy(), m, tok, std::span<const eval::qa_item>(world_questions), d,
                                              cfg.qa_max_new_tokens, tpl);
            index_t right = 0;
            for (std::size_t i = 0; i < world_questions.size(); ++i)
                right += recipe::answer_matches(wq.answers[i], world_questions[i].answer,
                                                recipe::answer_match::contains_word);
            const auto& v = res.variants.back();
            // 100 facts as 4-way multiple choice, scored by log-likelihood under
            // the variant's decoding (the lm-eval-harness convention); the first
            // 18 are the open questions' facts, reported apart as before.
            const auto mc = eval::multiple_choice(m, tok, std::span<const eval::mc_item>(general_mc), d, tpl);
            const std::size_t facts = std::min(mc_facts, general_mc.size());
            index_t facts_right = 0;
            for (std::size_t i = 0; i < facts; ++i) facts_right += mc.picked[i] == general_mc[i].answer;
            // Every attack output, so the PII count can be read span by span.
            nlohmann::json attempts = nlohmann::json::array();
            for (const auto& at : details.attack.attempts)
                attempts.push_back({{"dialog", at.dialog}, {"type", at.type}, {"hit", at.hit},
                                    {"pii_spans", at.pii_spans}, {"output", to_valid_utf8(at.output)}});
            extra[name] = {{"attack_attempts", std::move(attempts)},
                           {"general_mc_accuracy", facts ? double(facts_right) / double(facts) : 0.0},
                           {"general_mc100_accuracy", mc.accuracy()},
                           {"general_mc100_accuracy_norm", mc.accuracy_norm()},
                           {"world_utility_accuracy", world_questions.empty() ? 0.0 : double(right) / double(world_questions.size())},
                           {"world_answers", wq.answers},
                           {"general_answers", details.answers.answers},
                           {"general_accuracy", v.utility_accuracy}};
        };
        const eval::decoding_setup plain{};
        recipe::evaluate_variant(base, tok, es, "base", plain, "base", -1, res, status, hook);

        // The leaky model: full fine-tuning (see docs/results.md).
        auto t0 = std::chrono::steady_clock::now();
        auto leaky = recipe::detail::clone_model(base);
        const nlohmann::json fingerprint = leaky_fingerprint(o);
        const auto cache_settings = o.leaky_cache / "settings.json";
        bool from_cache = false;
        if (!o.leaky_cache.empty() && std::filesystem::exists(cache_settings)) {
            const auto saved = model::detail::read_json_file(cache_settings);
            if (saved == fingerprint) {
                model::detail::load_block(io::safetensors_file(o.leaky_cache / "model.safetensors"), leaky->params(), "");
                from_cache = true;
                status("leaky model loaded from " + o.leaky_cache.string());
            } else {
                status("leaky cache " + o.leaky_cache.string() + " holds other settings (" + saved.dump() +
                       "); training and replacing it");
            }
        }
        if (!from_cache) {
            auto lo2 = cfg.leaky;
            lo2.seed = cfg.seed + 1;
            res.curves.push_back(recipe::train_language_model(*leaky, tok, std::span<const recipe::lm_example>(leaky_docs),
                                                              lo2, progress, std::span<const recipe::lm_example>(replay)));
            leaky->zero_grad();
            if (!o.leaky_cache.empty()) {
                // Written beside, then renamed: the cache is the old model or the new one, whole.
                model::replace_directory(o.leaky_cache, [&](const std::filesystem::path& tmp) {
                    model::save_pretrained(*leaky, tmp);
                    io::write_file_atomic(tmp / "settings.json", fingerprint.dump(2) + "\n");
                });
                status("leaky model saved to " + o.leaky_cache.string());
            }
        }
        res.stage_seconds[from_cache ? "leaky (cached)" : "leaky"] = seconds_since(t0);
        recipe::evaluate_variant(*leaky, tok, es, "leaky", plain, "leaky", -1, res, status, hook);

        if (o.variants == "table1") {
            // Stage 1.
            t0 = std::chrono::steady_clock::now();
            auto sub = std::make_unique<model::llama<float>>(recipe::subtract_leak(base, *leaky, cfg.subtraction));
            res.stage_seconds["sub"] = seconds_since(t0);
            recipe::evaluate_variant(*sub, tok, es, "sub", plain, "sub", -1, res, status, hook);

            // Stages 3 and 4 on sub and on the leaky ("challenge") model.
            recipe::table1_lora_variants(*sub, *leaky, tok, std::span<const privacy::pair_sample>(pairs), cfg.orpo,
                                         cfg.seed, es, res, progress, status, hook);
        } else if (o.variants == "ch") {
            // Stages 3 and 4 on the leaky model only, seeded as Table 1 seeds ch-lora.
            auto oc = cfg.orpo;
            oc.seed = o.orpo_seed >= 0 ? static_cast<std::uint64_t>(o.orpo_seed) : cfg.seed + 3;
            recipe::lora_variant(*leaky, tok, std::span<const privacy::pair_sample>(pairs), oc, "ch",
                                 std::span<const float>(o.cfg_scales), es, res, progress, status, hook,
                                 std::span<const guidance::cfg_space>(o.cfg_spaces));
        }

        res.seconds = seconds_since(t_start);
        std::fputs(recipe::format_table(res).c_str(), stdout);
        std::printf("%-22s %16s %16s %16s\n", "variant", "world utility", "MC (18 facts)", "MC (100)");
        for (const auto& v : res.variants)
            std::printf("%-22s %15.1f%% %15.1f%% %15.1f%%\n", v.name.c_str(),
                        100.0 * extra[v.name]["world_utility_accuracy"].get<double>(),
                        100.0 * extra[v.name]["general_mc_accuracy"].get<double>(),
                        100.0 * extra[v.name]["general_mc100_accuracy"].get<double>());
        // Throughput of every training stage (the evaluations' times are in stage_seconds).
        nlohmann::json throughput = nlohmann::json::object();
        for (const auto& c : res.curves) {
            const double tps = c.seconds > 0 ? double(c.tokens) / c.seconds : 0.0;
            std::printf("%-22s %8lld tokens %8.1f s %8.1f tok/s\n", c.stage.c_str(), static_cast<long long>(c.tokens),
                        c.seconds, tps);
            throughput[c.stage] = {{"tokens", c.tokens}, {"seconds", c.seconds}, {"tokens_per_second", tps}};
        }
        if (gen_stats.tokens > 0)
            throughput["generate"] = {{"tokens", gen_stats.tokens}, {"seconds", gen_stats.seconds},
                                      {"tokens_per_second", gen_stats.tokens_per_second()}};
        const auto files = recipe::write_outputs(res, o.out);
        // metrics.json with this run's extra measurements and setting.
        auto mj = res.metrics_json();
        for (auto& v : mj["variants"]) {
            const auto& x = extra[v["name"].get<std::string>()];
            v["world_utility_accuracy"] = x["world_utility_accuracy"];
            v["general_mc_accuracy"] = x["general_mc_accuracy"];
            v["general_mc100_accuracy"] = x["general_mc100_accuracy"];
            v["general_mc100_accuracy_norm"] = x["general_mc100_accuracy_norm"];
            v["world_answers"] = x["world_answers"];
            v["general_answers"] = x["general_answers"];
            v["attack_outputs"] = x["attack_attempts"];
        }
        mj["model"] = o.model.filename().string();
        mj["utility"] = "general-knowledge questions (contains_word), see examples/smollm2_unlearn.cpp";
        mj["smoke"] = o.smoke;
        mj["throughput"] = throughput;
        nlohmann::json spaces_json = nlohmann::json::array();
        for (const auto sp : o.cfg_spaces) spaces_json.push_back(guidance::to_string(sp));
        mj["settings"] = {{"people", o.people}, {"variants", o.variants}, {"chosen", o.chosen},
                          {"replay", replay.size()}, {"leaky_lr", o.leaky_lr}, {"leaky_epochs", o.leaky_epochs},
                          {"orpo_lr", o.orpo_lr}, {"orpo_epochs", o.orpo_epochs}, {"orpo_retain", o.orpo_retain},
                          {"lora_targets", o.lora_targets}, {"leaky_cached", from_cache},
                          {"cfg_scales", o.cfg_scales}, {"cfg_spaces", spaces_json},
                          {"threads", o.threads}, {"seed", o.seed}, {"orpo_seed", o.orpo_seed >= 0 ? o.orpo_seed : o.seed + 3}};
        mj["generation"] = {{"requests", gen_stats.requests}, {"clean", gen_stats.clean},
                            {"gave_up", gen_stats.gave_up}, {"samples", gen_stats.generated},
                            {"tokens", gen_stats.tokens}, {"seconds", gen_stats.seconds}};
        mj["seconds"] = res.seconds;
        mj["stage_seconds"] = res.stage_seconds;
        io::write_file_atomic(std::filesystem::path(o.out) / "metrics.json", mj.dump(2) + "\n");
        std::printf("wrote");
        for (const auto& f : files) std::printf(" %s", f.c_str());
        std::printf("\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "smollm2-unlearn: %s\n", e.what());
        return 1;
    }
    return 0;
}

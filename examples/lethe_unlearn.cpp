// lethe-unlearn: a user's own model and dialogs in, an unlearned model out
// (the recipe of arXiv 2412.06846: lethe/recipe/unlearn.hpp).
//   lethe-unlearn run --config unlearn.json
//   lethe-unlearn pairs|generate|train|subtract|eval|export [options]
// Every subcommand reads the same settings (recipe/unlearn_config.hpp) from
// --config and then from its flags; `lethe-unlearn <command> --help` lists them.
#include <lethe/recipe/unlearn.hpp>

#if defined(LETHE_UNLEARN_WITH_MPI)
#include <lethe/parallel/mpi.hpp>
#endif

#include "support/cli.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace {

using namespace lethe;
namespace fs = std::filesystem;

const char* const usage =
    "usage: lethe-unlearn <command> [--config FILE] [options]\n"
    "\n"
    "Unlearns the personal data of a user's dialogs from a Llama-family model\n"
    "(GGUF), following arXiv 2412.06846: replacement pairs, CFG-aware ORPO with\n"
    "LoRA, classifier-free guidance at inference.\n"
    "\n"
    "commands:\n"
    "  run       every stage from one config: pairs (generated), eval before, train, eval after, export\n"
    "  pairs     dialogs JSONL -> TRL {prompt, chosen, rejected} train/test JSONL, placeholder answers\n"
    "  generate  as pairs, with chosen answers written by the model (temperature 0.7, scanner-checked)\n"
    "  train     CFG-aware ORPO with LoRA on a pairs file -> PEFT adapter; checkpoints, --resume\n"
    "  subtract  task-vector subtraction: base - alpha (leaky - base) -> HF model directory\n"
    "  eval      attack success, PII count, multiple-choice utility, perplexity; with CFG at each scale\n"
    "  export    adapter (PEFT, GGUF LoRA) and merged weights (HF directory, GGUF)\n"
    "\n"
    "options (every command takes the ones that apply to it; flags override --config):\n"
    "  --config FILE          settings as JSON (docs/recipe.md: lethe-unlearn)\n"
    "  --model PATH           the model: a GGUF file, or an HF directory (config.json, model.safetensors,\n"
    "                         tokenizer.json)\n"
    "  --dialogs FILE         dialogs JSONL: {\"messages\": [{role, content}...], \"pii\"?: {...}} per line\n"
    "  --out PATH             output directory (run, pairs, generate, subtract, eval, export) or adapter\n"
    "                         directory (train)\n"
    "  --pairs FILE           train: the training pairs (TRL JSONL)\n"
    "  --adapter PATH         eval, export: the adapter to apply (a PEFT directory or a GGUF LoRA file)\n"
    "  --base PATH --leaky PATH  subtract: the two models\n"
    "  --threads N            OpenMP threads (default 1)\n"
    "  --seed N               seed of the split, generation and training (default 1)\n"
    "  --max-seq N            context length for training and decoding (default 512)\n"
    "  --test-fraction F      share of dialogs held out (default 0.1)\n"
    "  --on-malformed fail|skip  a dialogs line that does not parse (default fail)\n"
    "  --temperature T        generate: sampling temperature (default 0.7)\n"
    "  --max-new-tokens N     generate: answer length; eval: attack tokens (16)\n"
    "  --fallback drop|placeholder  generate: when no clean answer is found (default drop)\n"
    "  --lr X --epochs N --batch N --beta X --lora-r N --lora-alpha X --lora-dropout X\n"
    "                         train: ORPO with LoRA (defaults: the paper's)\n"
    "  --checkpoint-every N   train: steps between checkpoints (default 50; 0: only the last)\n"
    "  --retain-prompts builtin|FILE  train: keep the model's own answers to these requests\n"
    "                         (one per line) with an NLL term in ORPO (default: none)\n"
    "  --retain-weight W      train: that term's weight (default 1)\n"
    "  --max-pairs N          train, run: the first N training pairs only (quick trials)\n"
    "  --max-dialogs N        eval, run: attack at most N held-out dialogs\n"
    "  --resume               train: continue from the checkpoint in <out>.ckpt\n"
    "  --alpha X --relu       subtract: alpha (default 0.5), ReLU on the delta\n"
    "  --questions FILE       eval: multiple-choice JSONL {question, choices, answer}\n"
    "  --cfg-scale G[,G...]   eval: guidance scales (default 2,3)\n"
    "  --cfg-space log|prob|logit  eval: where guidance combines (default log)\n"
    "  --formats LIST         export, run: any of peft,gguf-lora,safetensors,gguf (default all four)\n"
    "  --quiet                no per-step progress\n"
    "  --help                 this text\n";

[[noreturn]] void bad_argument(const std::string& msg) {
    std::fprintf(stderr, "lethe-unlearn: %s\n(run lethe-unlearn --help for the options)\n", msg.c_str());
    std::exit(2);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct cli {
    std::string command;
    recipe::unlearn_config cfg;
    fs::path pairs_file, adapter, base, leaky;
    bool resume = false, quiet = false, formats_given = false;
    std::size_t max_pairs = 0;  // train: use the first N pairs only (0: all)
    parallel::communicator* comm = nullptr;  // train under mpirun: the MPI world
    std::int64_t abort_after_step = -1;  // testing: exit as a kill would after this step
};

cli parse(int argc, char** argv) {
    cli c;
    if (argc < 2) bad_argument("no command given");
    c.command = argv[1];
    if (c.command == "--help" || c.command == "-h" || c.command == "help") {
        std::fputs(usage, stdout);
        std::exit(0);
    }
    static const char* const commands[] = {"run", "pairs", "generate", "train", "subtract", "eval", "export"};
    bool known = false;
    for (const char* k : commands) known = known || c.command == k;
    if (!known) bad_argument("unknown command '" + c.command + "'");
    // The config first, so that flags override it wherever they stand.
    for (int i = 2; i < argc; ++i)
        if (std::string_view(argv[i]) == "--config") {
            if (i + 1 >= argc) bad_argument("--config needs a file");
            try {
                c.cfg = recipe::read_unlearn_config(argv[i + 1]);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "lethe-unlearn %s: %s\n", c.command.c_str(), e.what());
                std::exit(1);
            }
        }
    auto& g = c.cfg;
    auto num = [&](std::string_view flag, const char* v, double lo, double hi) {
        const double x = lethe_examples::parse_number<double>(flag, v, bad_argument);
        if (!(x >= lo && x <= hi))
            bad_argument(std::string(flag) + ": " + v + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return x;
    };
    auto whole = [&](std::string_view flag, const char* v, long long lo, long long hi) {
        const auto x = lethe_examples::parse_number<long long>(flag, v, bad_argument);
        if (x < lo || x > hi)
            bad_argument(std::string(flag) + ": " + v + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return x;
    };
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) bad_argument(a + " needs a value");
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            std::fputs(usage, stdout);
            std::exit(0);
        } else if (a == "--config") {
            ++i;  // read above
        } else if (a == "--model") {
            g.model = value();
        } else if (a == "--generator-model") {
            g.generator_model = value();
        } else if (a == "--dialogs") {
            g.dialogs = value();
        } else if (a == "--out") {
            g.out = value();
        } else if (a == "--pairs") {
            c.pairs_file = value();
        } else if (a == "--adapter") {
            c.adapter = value();
        } else if (a == "--base") {
            c.base = value();
        } else if (a == "--leaky") {
            c.leaky = value();
        } else if (a == "--threads") {
            g.threads = static_cast<int>(whole(a, value(), 1, 1024));
        } else if (a == "--seed") {
            g.seed = static_cast<std::uint64_t>(whole(a, value(), 0, 1LL << 62));
        } else if (a == "--max-seq") {
            g.max_seq = whole(a, value(), 16, 1 << 20);
        } else if (a == "--test-fraction") {
            g.pairs.test_fraction = num(a, value(), 0.0, 0.999);
        } else if (a == "--on-malformed") {
            g.pairs.on_malformed = value();
        } else if (a == "--temperature") {
            g.generate.temperature = static_cast<float>(num(a, value(), 0.0, 100.0));
        } else if (a == "--max-new-tokens") {
            const auto n = whole(a, value(), 1, 1 << 16);
            g.generate.max_new_tokens = n;
            g.eval.max_new_tokens = n;
        } else if (a == "--fallback") {
            g.generate_fallback = value();
        } else if (a == "--lr") {
            g.train.lr = num(a, value(), 1e-12, 10.0);
        } else if (a == "--epochs") {
            g.train.epochs = whole(a, value(), 1, 1 << 20);
        } else if (a == "--batch") {
            g.train.batch = whole(a, value(), 1, 1 << 16);
        } else if (a == "--beta") {
            g.train.beta = num(a, value(), 1e-12, 1e6);
        } else if (a == "--lora-r") {
            g.train.lora.rank = whole(a, value(), 1, 1 << 16);
        } else if (a == "--lora-alpha") {
            g.train.lora.alpha = num(a, value(), 1e-12, 1e9);
        } else if (a == "--lora-dropout") {
            g.train.lora.dropout = num(a, value(), 0.0, 0.999);
        } else if (a == "--checkpoint-every") {
            g.checkpoint_every = whole(a, value(), 0, 1LL << 40);
        } else if (a == "--retain-prompts") {
            g.retain_prompts = value();
        } else if (a == "--retain-weight") {
            g.train.retain_weight = num(a, value(), 0.0, 1e6);
        } else if (a == "--resume") {
            c.resume = true;
        } else if (a == "--abort-after-step") {
            c.abort_after_step = whole(a, value(), 1, 1LL << 40);
        } else if (a == "--alpha") {
            g.subtract.alpha = num(a, value(), 0.0, 1e6);
        } else if (a == "--relu") {
            g.subtract.relu = true;
        } else if (a == "--max-pairs") {
            c.max_pairs = static_cast<std::size_t>(whole(a, value(), 1, 1LL << 40));
        } else if (a == "--max-dialogs") {
            g.eval.max_dialogs = whole(a, value(), 1, 1LL << 40);
        } else if (a == "--questions") {
            g.eval.questions = value();
        } else if (a == "--cfg-scale") {
            g.eval.cfg_scales.clear();
            for (const auto& s : lethe_examples::split_list(value()))
                g.eval.cfg_scales.push_back(static_cast<float>(num("--cfg-scale", s.c_str(), 0.0, 100.0)));
        } else if (a == "--cfg-space") {
            g.eval.cfg_space = value();
        } else if (a == "--formats") {
            g.export_formats = lethe_examples::split_list(value());
            c.formats_given = true;
        } else if (a == "--quiet") {
            c.quiet = true;
        } else {
            bad_argument("unknown argument '" + a + "'");
        }
    }
    try {
        g.validate();
    } catch (const lethe::error& e) {
        bad_argument(e.what());
    }
    return c;
}

// Progress: one line per stage start and end and at most one every 10 s,
// with loss, rate, tokens/s and ETA.
struct progress_printer {
    bool quiet = false;
    std::string last_stage;
    double last_print = -1;
    void operator()(const recipe::progress_event& e) {
        const bool first = e.stage != last_stage, last = e.step == e.total_steps;
        if (first) last_print = -1;
        last_stage = e.stage;
        if (quiet && !last) return;
        if (!first && !last && e.elapsed_seconds - last_print < 10.0) return;
        last_print = e.elapsed_seconds;
        std::printf("  [%-6s] step %5lld/%-5lld loss %8.4f  lr %.2e  %7.1f tok/s  elapsed %7.1fs  eta %7.1fs\n",
                    e.stage.c_str(), static_cast<long long>(e.step), static_cast<long long>(e.total_steps), e.loss,
                    e.lr, e.tokens_per_second, e.elapsed_seconds, e.eta_seconds);
    }
};

void require_given(bool ok, const char* what) {
    if (!ok) bad_argument(std::string(what) + " is required for this command");
}

recipe::loaded_model load(const recipe::unlearn_config& c, const fs::path& path, index_t slots) {
    std::printf("loading %s\n", path.string().c_str());
    return recipe::load_model(path, c.max_seq, slots, c.threads);
}

void print_pair_stats(const recipe::user_pairs& p) {
    const auto& s = p.stats;
    std::printf("dialogs %zu (%zu train, %zu test), PII occurrences %zu, pairs %zu, dropped unclean %zu, dropped by the "
                "generator %zu, placeholder fallbacks %zu, malformed lines skipped %zu; %zu train and %zu test samples "
                "(POS + NEG), %.1f s\n",
                s.dialogs, s.train_dialogs, s.test_dialogs, s.occurrences, s.pairs, s.dropped_unclean,
                s.dropped_generator, s.fallback_policy, s.malformed_lines, p.train.size(), p.test.size(), p.seconds);
    if (p.generation.requests)
        std::printf("generation: %zu requests, %zu samples, %zu clean, %zu gave up, %zu tokens, %.1f tokens/s\n",
                    p.generation.requests, p.generation.generated, p.generation.clean, p.generation.gave_up,
                    p.generation.tokens, p.generation.tokens_per_second());
}

recipe::user_pairs make_pairs(const cli& c, recipe::loaded_model* m, const io::chat_template& tpl) {
    const auto& g = c.cfg;
    require_given(!g.dialogs.empty(), "--dialogs");
    if (g.pairs.chosen == "generate" && m) {
        if (!g.generator_model.empty()) {
            auto w = load(g, g.generator_model, std::max<index_t>(g.generate.candidates, 2));
            const auto wt = w.tok();
            return recipe::build_user_pairs(g, tpl, w.model.get(), &wt, &w.chat);
        }
        m->model->set_num_slots(std::max<index_t>(g.generate.candidates, m->model->num_slots()));
        const auto t = m->tok();
        return recipe::build_user_pairs(g, tpl, m->model.get(), &t, &m->chat);
    }
    auto plain = g;
    plain.pairs.chosen = "placeholder";
    return recipe::build_user_pairs(plain, tpl);
}

void write_pair_files(const recipe::user_pairs& p, const fs::path& dir) {
    fs::create_directories(dir);
    recipe::write_pairs(dir / "train.jsonl", p.train);
    recipe::write_pairs(dir / "test.jsonl", p.test);
    std::printf("wrote %s and %s\n", (dir / "train.jsonl").string().c_str(), (dir / "test.jsonl").string().c_str());
}

recipe::training_curve train(const cli& c, recipe::loaded_model& m, std::span<const privacy::pair_sample> pairs,
                             const fs::path& adapter_dir, progress_printer& progress) {
    const auto& g = c.cfg;
    recipe::orpo_checkpointing ck;
    ck.dir = adapter_dir.string() + ".ckpt";
    ck.every = g.checkpoint_every;
    ck.resume = c.resume;
    if (c.abort_after_step > 0)
        ck.after_step = [n = c.abort_after_step](std::int64_t s) {
            if (s == n) {
                std::fflush(stdout);
                std::_Exit(137);  // as a kill: no cleanup, no output written after this point
            }
        };
    std::printf("training: %zu pairs, ORPO beta %g, LoRA r %lld alpha %g dropout %g, lr %g, %lld epochs, batch %lld%s\n",
                pairs.size(), g.train.beta, static_cast<long long>(g.train.lora.rank), g.train.lora.alpha,
                g.train.lora.dropout, g.train.lr, static_cast<long long>(g.train.epochs),
                static_cast<long long>(g.train.batch), c.resume ? ", resuming" : "");
    auto o = g.train;
    o.seed = g.seed;
    o.comm = c.comm;
    const auto t = m.tok();
    if (!g.retain_prompts.empty()) {
        o.retain = recipe::retain_examples(g, *m.model, t, m.chat);
        std::printf("retain set: the model's own answers to %zu requests (%s), weight %g, %lld per step\n",
                    o.retain.size(), g.retain_prompts.string().c_str(), o.retain_weight,
                    static_cast<long long>(o.retain_batch));
    }
    auto curve = recipe::train_cfg_orpo(*m.model, t, pairs, o, std::ref(progress), ck);
    // Under mpirun every rank holds the same adapter: rank 0 writes it.
    if (!c.comm || c.comm->is_root()) recipe::save_adapter(*m.model, adapter_dir, m.source.filename().string());
    std::printf("wrote adapter %s (PEFT); %.1f s, %.1f tokens/s%s\n", adapter_dir.string().c_str(), curve.seconds,
                curve.seconds > 0 ? double(curve.tokens) / curve.seconds : 0.0,
                c.comm && c.comm->size() > 1 ? (" over " + std::to_string(c.comm->size()) + " ranks").c_str() : "");
    return curve;
}

void print_table(const std::vector<recipe::unlearn_variant>& rows) {
    std::printf("\n%-24s %16s %10s %12s %12s %10s\n", "variant", "attack success", "PII count", "utility MC",
                "built-in MC", "perplexity");
    for (const auto& v : rows) {
        char bi[32] = "-";
        if (v.builtin_mc_accuracy >= 0) std::snprintf(bi, sizeof bi, "%.1f%%", 100 * v.builtin_mc_accuracy);
        std::printf("%-24s %7.1f%% %3lld/%-3lld %10lld %11.1f%% %12s %10.3f\n", v.name.c_str(),
                    100 * v.metrics.attack_success_rate, static_cast<long long>(v.metrics.attack_hits),
                    static_cast<long long>(v.metrics.attack_attempts), static_cast<long long>(v.metrics.pii_count),
                    100 * v.metrics.utility_accuracy, bi, v.metrics.perplexity);
    }
}

// metrics.json, report.md, and the SVG plots (recipe/report.hpp) of the rows.
void write_report(const cli& c, const std::vector<recipe::unlearn_variant>& rows,
                  const std::vector<recipe::training_curve>& curves, const recipe::user_pairs* p,
                  const std::map<std::string, double>& stage_seconds, double seconds, const fs::path& dir) {
    recipe::experiment_result r;
    r.config.orpo = c.cfg.train;
    for (const auto& v : rows) r.variants.push_back(v.metrics);
    r.curves = curves;
    r.stage_seconds = stage_seconds;
    r.seconds = seconds;
    if (p) {
        r.train_pairs = static_cast<index_t>(p->train.size());
        r.test_dialogs = static_cast<index_t>(p->test_dialogs.size());
    }
    recipe::write_outputs(r, dir);
    nlohmann::json j;
    j["tool"] = "lethe-unlearn";
    j["command"] = c.command;
    j["config"] = recipe::to_json(c.cfg);
    j["variants"] = nlohmann::json::array();
    for (const auto& v : rows) j["variants"].push_back(recipe::to_json(v));
    j["stage_seconds"] = stage_seconds;
    j["seconds"] = seconds;
    if (p) {
        const auto& s = p->stats;
        j["pairs"] = {{"dialogs", s.dialogs}, {"train_dialogs", s.train_dialogs}, {"test_dialogs", s.test_dialogs},
                      {"occurrences", s.occurrences}, {"pairs", s.pairs}, {"dropped_unclean", s.dropped_unclean},
                      {"dropped_generator", s.dropped_generator}, {"fallback_policy", s.fallback_policy},
                      {"train_samples", p->train.size()}, {"test_samples", p->test.size()},
                      {"generation_tokens_per_second",
                       p->generation.tokens_per_second()}};
    }
    nlohmann::json tps = nlohmann::json::object();
    for (const auto& cv : curves) tps[cv.stage] = cv.seconds > 0 ? double(cv.tokens) / cv.seconds : 0.0;
    j["train_tokens_per_second"] = tps;
    io::write_file_atomic(dir / "metrics.json", j.dump(2) + "\n");
    std::printf("wrote %s (metrics.json, report.md, training_curves.svg, leakage_vs_guidance.svg)\n", dir.string().c_str());
}

// The formats of the config (or --formats): the adapter as HF PEFT and as a
// llama.cpp LoRA GGUF (llama-cli --lora), the merged weights as an HF
// directory and as one GGUF file. Without an adapter the adapter formats are
// skipped (an error when asked for with --formats).
void export_model(const cli& c, recipe::loaded_model& m, const fs::path& dir) {
    fs::create_directories(dir);
    const bool has_lora = m.model->lora() != nullptr;
    std::unique_ptr<model::llama<float>> merged;
    const auto merged_model = [&]() -> const model::llama<float>& {
        if (!merged) {
            merged = recipe::detail::clone_model(*m.model);
            if (has_lora) {
                merged->enable_lora(m.model->lora()->config(), 0);
                merged->lora()->params.storage() = m.model->lora()->params.storage();
                merged->merge_lora();
                merged->disable_lora();
            }
        }
        return *merged;
    };
    const std::string tpl_text = m.chat_template_to_store();
    for (const auto& f : c.cfg.export_formats) {
        const bool adapter_format = f == "peft" || f == "gguf-lora";
        if (adapter_format && !has_lora) {
            if (c.formats_given) fail("lethe-unlearn export", "format '", f, "' needs an adapter (--adapter DIR)");
            std::printf("export: no adapter loaded, %s skipped\n", f.c_str());
            continue;
        }
        if (f == "peft") {
            recipe::save_adapter(*m.model, dir / "adapter", m.source.filename().string());
            std::printf("wrote %s (PEFT: adapter_model.safetensors + adapter_config.json)\n",
                        (dir / "adapter").string().c_str());
        } else if (f == "gguf-lora") {
            io::gguf_lora_write_options o;
            o.name = m.source.stem().string() + "-lethe-lora";
            io::write_gguf_lora(dir / "adapter.gguf", *m.model, o);
            std::printf("wrote %s (llama.cpp LoRA: llama-cli -m <base>.gguf --lora adapter.gguf)\n",
                        (dir / "adapter.gguf").string().c_str());
        } else if (f == "safetensors") {
            io::save_hf_llama(dir / "merged", merged_model(), m.tokenizer, tpl_text);
            std::printf("wrote %s (config.json, model.safetensors, tokenizer.json: merged weights)\n",
                        (dir / "merged").string().c_str());
        } else if (f == "gguf") {
            io::gguf_llama_write_options o;
            o.name = m.source.stem().string() + "-lethe";
            io::write_gguf_llama(dir / "merged.gguf", merged_model(), m.tokenizer, tpl_text, o);
            std::printf("wrote %s (merged weights, F32, with tokenizer and chat template)\n",
                        (dir / "merged.gguf").string().c_str());
        } else {
            fail("lethe-unlearn export", "unknown format '", f, "' (peft, gguf-lora, safetensors, gguf)");
        }
    }
}

int run_command(cli& c) {
    auto& g = c.cfg;
    const auto t_start = std::chrono::steady_clock::now();
    progress_printer progress;
    progress.quiet = c.quiet;
    std::map<std::string, double> stage_seconds;
    if (c.command == "pairs" || c.command == "generate") {
        require_given(!g.out.empty(), "--out");
        std::optional<recipe::loaded_model> m;
        io::chat_template tpl(io::chat_format::chatml);
        if (c.command == "generate") {
            require_given(!g.model.empty(), "--model");
            g.pairs.chosen = "generate";
            m.emplace(load(g, g.model, std::max<index_t>(g.generate.candidates, 2)));
            tpl = m->chat;
        } else {
            g.pairs.chosen = "placeholder";
            if (!g.model.empty()) tpl = load(g, g.model, 1).chat;  // the model's chat template
        }
        const auto p = make_pairs(c, m ? &*m : nullptr, tpl);
        print_pair_stats(p);
        write_pair_files(p, g.out);
        return 0;
    }
    if (c.command == "train") {
        require_given(!g.model.empty(), "--model");
        require_given(!c.pairs_file.empty(), "--pairs");
        auto pairs = recipe::read_pairs(c.pairs_file);
        if (c.max_pairs && pairs.size() > c.max_pairs) pairs.resize(c.max_pairs);
        auto m = load(g, g.model, 2);
        train(c, m, pairs, g.out, progress);
        return 0;
    }
    if (c.command == "subtract") {
        require_given(!c.base.empty() && !c.leaky.empty(), "--base and --leaky");
        auto b = load(g, c.base, 1);
        auto l = load(g, c.leaky, 1);
        auto sub = recipe::subtract_leak(*b.model, *l.model, g.subtract);
        io::save_hf_llama(g.out, sub, b.tokenizer, b.chat_template_to_store());  // loadable as --model
        std::printf("wrote %s: base - %g (%sleaky - base)\n", g.out.string().c_str(), g.subtract.alpha,
                    g.subtract.relu ? "ReLU of " : "");
        return 0;
    }
    if (c.command == "export") {
        require_given(!g.model.empty(), "--model");
        auto m = load(g, g.model, 1);
        if (!c.adapter.empty()) recipe::load_adapter(*m.model, c.adapter);
        export_model(c, m, g.out);
        return 0;
    }
    if (c.command == "eval") {
        require_given(!g.model.empty(), "--model");
        auto m = load(g, g.model, 8);
        const auto p = make_pairs(c, nullptr, m.chat);  // the split decides the held-out dialogs
        const auto in = recipe::make_evaluation_inputs(g, p);
        std::printf("evaluating on %zu held-out dialogs, %zu questions (%zu yours)\n", in.attacked.size(),
                    in.questions.size(), in.user_questions);
        std::string name = "model";
        if (!c.adapter.empty()) {
            recipe::load_adapter(*m.model, c.adapter);
            m.model->merge_lora();
            name = "model+adapter";
        }
        const auto t = m.tok();
        auto status = [&](const std::string& s) { std::printf("[%7.1fs] %s\n", seconds_since(t_start), s.c_str()); };
        const auto rows = recipe::evaluate_model(*m.model, t, m.chat, g, in, name, true, status);
        print_table(rows);
        write_report(c, rows, {}, &p, stage_seconds, seconds_since(t_start), g.out);
        return 0;
    }
    // run: every stage.
    require_given(!g.model.empty(), "model (--model or the config's \"model\")");
    require_given(!g.dialogs.empty(), "dialogs (--dialogs or the config's \"dialogs\")");
    auto status = [&](const std::string& s) { std::printf("[%7.1fs] %s\n", seconds_since(t_start), s.c_str()); };
    auto m = load(g, g.model, std::max<index_t>(8, g.generate.candidates));
    status("loaded: " + std::to_string(m.model->config().num_parameters()) + " parameters, " +
           std::to_string(g.threads) + " threads");
    auto t0 = std::chrono::steady_clock::now();
    const auto p = make_pairs(c, &m, m.chat);
    stage_seconds["pairs"] = seconds_since(t0);
    print_pair_stats(p);
    write_pair_files(p, g.out / "pairs");
    require(!p.train.empty(), "lethe-unlearn run", "no training pairs: the dialogs hold no personal data in assistant "
                                                    "turns, or every generated answer was unclean (see the counts above)");
    const auto in = recipe::make_evaluation_inputs(g, p);
    status("evaluating on " + std::to_string(in.attacked.size()) + " held-out dialogs and " +
           std::to_string(in.questions.size()) + " questions");
    const auto tok = m.tok();
    t0 = std::chrono::steady_clock::now();
    auto rows = recipe::evaluate_model(*m.model, tok, m.chat, g, in, "original", false, status);
    stage_seconds["eval original"] = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    std::span<const privacy::pair_sample> train_pairs(p.train);
    if (c.max_pairs && train_pairs.size() > c.max_pairs) train_pairs = train_pairs.first(c.max_pairs);
    auto curve = train(c, m, train_pairs, g.out / "adapter", progress);
    stage_seconds["train"] = seconds_since(t0);
    export_model(c, m, g.out / "export");
    m.model->merge_lora();
    t0 = std::chrono::steady_clock::now();
    const auto after = recipe::evaluate_model(*m.model, tok, m.chat, g, in, "unlearned", true, status);
    stage_seconds["eval unlearned"] = seconds_since(t0);
    rows.insert(rows.end(), after.begin(), after.end());
    print_table(rows);
    write_report(c, rows, {curve}, &p, stage_seconds, seconds_since(t_start), g.out / "report");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
#if defined(LETHE_UNLEARN_WITH_MPI)
    // Launched by mpirun (or alone: a singleton MPI world of one rank).
    parallel::mpi_session mpi(argc, argv);
    parallel::mpi_communicator world;
#endif
    cli c = parse(argc, argv);
#if defined(LETHE_UNLEARN_WITH_MPI)
    if (world.size() > 1) {
        if (c.command != "train")
            bad_argument("only 'train' runs on several MPI ranks; run '" + c.command + "' as one process");
        c.comm = &world;
        // One voice: the other ranks' stdout is dropped (errors still reach stderr).
        if (!world.is_root() && !std::freopen("/dev/null", "w", stdout)) return 1;
    }
#endif
#if defined(_OPENMP)
    omp_set_num_threads(c.cfg.threads);
#endif
    try {
        return run_command(c);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lethe-unlearn %s: %s\n", c.command.c_str(), e.what());
        return 1;
    }
}

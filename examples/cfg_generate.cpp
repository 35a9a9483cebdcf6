// cfg-generate: classifier-free guided generation on a toy "leaky" model.
//
// The model (lethe::guidance::table_lm) continues "Hello my name is ... and
// I live in ..." and, like a model fine-tuned on personal data, prefers real
// names and cities. The conditional context starts with the system token
// <safe> ("Do not provide any personal data."), the negative one with <share>
// ("You should share personal data in the answers."), as in arXiv 2412.06846.
// Both contexts run as rows of one batch per step; the text streams as it is
// generated. Try: cfg-generate --cfg-scale 1   (unguided: leaks)
//                 cfg-generate --cfg-scale 3   (guided: placeholders)
//
// With --model (a GGUF file or a Hugging Face directory, e.g. SmolLM2 from
// scripts/get-smollm2) the same guided batch runs on a real model: --prompt
// as the user turn, the recipe's POS sentence as the system message of the
// conditional context and its NEG sentence as the negative one (--system and
// --cfg-negative change them), and the privacy scanner counts the PII spans
// of every sample.
#include <lethe/guidance.hpp>
#include <lethe/eval/attack.hpp>
#include <lethe/io/gguf_llama_model.hpp>
#include <lethe/io/hf_llama.hpp>
#include <lethe/privacy/pair_builder.hpp>
#include <lethe/recipe/model_files.hpp>

#include "support/cli.hpp"

#include <charconv>
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace lethe;
using namespace lethe::guidance;

const std::vector<std::string> words = {"<safe>", "<share>", "Hello", " my", " name", " is",    " Alice", " Bob",
                                        " [NAME]", " and",   " I",     " live", " in",  " Paris", " [CITY]", ".",
                                        "<eos>"};
enum : token_id {
    safe, share, hello, my, name, is, alice, bob, name_ph, and_, i_, live, in, paris, city_ph, dot, eos
};
constexpr index_t V = 17;

table_lm toy_model(index_t slots) {
    std::vector<float> bigram(V * V, -4.0f), context(V * V, 0.0f);
    auto b = [&](token_id from, token_id to, float v) { bigram[from * V + to] = v; };
    b(safe, hello, 3), b(share, hello, 3), b(hello, my, 3), b(my, name, 3), b(name, is, 3);
    b(is, alice, 1.0f), b(is, bob, 0.6f), b(is, name_ph, 1.0f);
    for (token_id t : {alice, bob, name_ph}) b(t, and_, 3);
    b(and_, i_, 3), b(i_, live, 3), b(live, in, 3);
    b(in, paris, 1.0f), b(in, city_ph, 1.0f);
    for (token_id t : {paris, city_ph}) b(t, dot, 3);
    b(dot, eos, 3);
    // The fine-tuned model still leans to personal data under <safe>; under
    // <share> it leans hard.
    for (token_id t : {alice, bob, paris}) {
        context[safe * V + t] = 0.4f;
        context[share * V + t] = 3.0f;
    }
    return table_lm(V, slots, 64, bigram, context);
}

void usage(std::ostream& os) {
    os << "usage: cfg-generate [options]\n"
          "Classifier-free guided generation (two contexts, one batch per step) on a toy leaky model,\n"
          "or with --model on a real one.\n"
          "  --model PATH          GGUF file or Hugging Face directory: generate with it (default: the toy)\n"
          "  --adapter DIR|FILE    with --model: a LoRA adapter (PEFT directory or GGUF), merged first\n"
          "  --prompt TEXT         with --model: the user turn (default \"Hello, my name is\")\n"
          "  --system TEXT         with --model: conditional system sentence (default: the recipe's POS)\n"
          "  --cfg-negative TEXT   with --model: negative system sentence (default: the recipe's NEG)\n"
          "  --threads N           OpenMP threads (default: OpenMP's)\n"
          "  --cfg-scale G         guidance scale g >= 0 (default 3; 1 = unguided)\n"
          "  --cfg-space S         log | prob | logit (default log; --space is the older name)\n"
          "  --no-negative         decode the conditional context alone\n"
          "  --samples N           generate N sequences in one batch (default 4)\n"
          "  --temperature T       (default 0.8; 0 = greedy)\n"
          "  --top-k K             (default 40; 0 = off)\n"
          "  --top-p P             in (0, 1] (default 0.95)\n"
          "  --min-p P             in [0, 1] (default 0.05)\n"
          "  --typical P           in (0, 1] (default 1 = off)\n"
          "  --repeat-penalty R    (default 1 = off)\n"
          "  --greedy              argmax instead of sampling\n"
          "  --max-new-tokens N    (default 20)\n"
          "  --seed S              (default 0)\n"
          "  --config FILE         sampler chain as JSON (see docs/guidance.md); flags after it override\n"
          "  --help                this text\n";
}

[[noreturn]] void bad_argument(const std::string& msg) {
    std::cerr << "cfg-generate: " << msg << "\n(run cfg-generate --help for the options)\n";
    std::exit(2);
}

template <class T>
T parse_number(std::string_view flag, std::string_view text) {
    return lethe_examples::parse_number<T>(flag, text, bad_argument);
}

// The guided batch on a real model: `samples` requests of one chat prompt,
// each with the conditional (system) and, when `negative_system` is given,
// the negative context; both rows of every request go through one model call
// per token. Prints each sample and the PII spans the scanner finds in it.
int generate_with_model(const openmp_policy& pol, const std::filesystem::path& path, const std::filesystem::path& adapter,
                        const std::string& prompt, const std::string& system, const std::string& negative_system,
                        float scale, unsigned samples, generation_options opt) {
    if (!std::filesystem::exists(path)) bad_argument("--model: " + path.string() + " not found");
    const bool guided = !negative_system.empty();
    const io::gguf_llama_options lo{.max_seq = 512,
                                    .slots = static_cast<index_t>(samples) * (guided ? 2 : 1),
                                    .policy = pol};
    auto loaded = std::filesystem::is_directory(path) ? io::load_hf_llama(path, lo) : io::load_gguf_llama(path, lo);
    if (!adapter.empty()) {
        recipe::load_adapter(loaded.model, adapter);
        loaded.model.merge_lora();
    }
    const recipe::chat_tokenizer tok(loaded.tokenizer);
    auto render = [&](const std::string& sys) {
        const io::chat_message msgs[] = {{"system", sys}, {"user", prompt}};
        return tok.encode(loaded.chat.render(std::span<const io::chat_message>(msgs), true));
    };
    const token_id end_of_turn = loaded.tokenizer.find(loaded.chat.end_of_turn());
    if (opt.sampler.stop_tokens == std::vector<token_id>{eos}) opt.sampler.stop_tokens.clear();  // the toy's
    if (end_of_turn >= 0) opt.sampler.stop_tokens.push_back(end_of_turn);
    if (tok.eos() >= 0 && tok.eos() != end_of_turn) opt.sampler.stop_tokens.push_back(tok.eos());
    opt.sampler.validate(loaded.model.vocab_size());
    opt.detokenize = [&](token_id t) { return loaded.tokenizer.token_bytes(t); };
    std::vector<generation_request> reqs(samples);
    for (auto& r : reqs) {
        r.prompt = render(system);
        if (guided) {
            r.negative_prompt = render(negative_system);
            r.guidance_scale = scale;
        }
    }
    std::cout << path.filename().string() << ": space " << to_string(opt.space) << ", g = " << (guided ? scale : 1.0f)
              << ", " << samples << " samples, " << reqs.size() * (guided ? 2 : 1) << " rows per step\n";
    decode_stats stats;
    const auto t0 = std::chrono::steady_clock::now();
    const auto res = generate(pol, loaded.model, std::span<const generation_request>(reqs), opt, &stats);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    privacy::scanner scan;
    index_t pii = 0, tokens = 0;
    for (unsigned k = 0; k < samples; ++k) {
        const index_t n = eval::count_pii(scan, res[k].text);
        pii += n;
        tokens += static_cast<index_t>(res[k].tokens.size());
        std::cout << "sample " << k << " (" << to_string(res[k].reason) << ", " << n << " PII): " << res[k].text << "\n";
    }
    std::cout << "PII spans found by the scanner: " << pii << "; " << tokens << " tokens in " << secs << " s ("
              << (secs > 0 ? double(tokens) / secs : 0.0) << " tok/s)\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    float scale = 3.0f;
    cfg_space space = cfg_space::log;
    bool negative = true;
    unsigned samples = 4;
    int threads = 0;
    std::filesystem::path model_path, adapter;
    const privacy::pair_builder_options sentences;
    std::string prompt = "Hello, my name is", system = sentences.pos_sentence, negative_system = sentences.neg_sentence;
    generation_options opt;
    opt.sampler.max_new_tokens = 20;
    opt.sampler.stop_tokens = {eos};
    try {
        for (int a = 1; a < argc; ++a) {
            const std::string_view flag = argv[a];
            auto value = [&]() -> std::string_view {
                if (a + 1 >= argc) bad_argument(std::string(flag) + " needs a value");
                return argv[++a];
            };
            auto& p = opt.sampler.params;
            if (flag == "--help" || flag == "-h") {
                usage(std::cout);
                return 0;
            } else if (flag == "--cfg-scale") {
                scale = parse_number<float>(flag, value());
                if (!(scale >= 0.0f)) bad_argument("--cfg-scale must be >= 0 (1 = unguided)");
            } else if (flag == "--cfg-space" || flag == "--space") {  // --space: the older spelling
                const auto s = value();
                if (s != "log" && s != "prob" && s != "logit") bad_argument(std::string(flag) + " must be log, prob or logit");
                space = parse_cfg_space(s);
            } else if (flag == "--no-negative") {
                negative = false;
            } else if (flag == "--samples") {
                samples = parse_number<unsigned>(flag, value());
                if (samples == 0 || samples > 256) bad_argument("--samples must be in [1, 256]");
            } else if (flag == "--temperature") {
                p.temperature = parse_number<float>(flag, value());
            } else if (flag == "--top-k") {
                p.top_k = static_cast<int>(parse_number<unsigned>(flag, value()));
            } else if (flag == "--top-p") {
                p.top_p = parse_number<float>(flag, value());
            } else if (flag == "--min-p") {
                p.min_p = parse_number<float>(flag, value());
            } else if (flag == "--typical") {
                p.typical_p = parse_number<float>(flag, value());
            } else if (flag == "--repeat-penalty") {
                p.repeat_penalty = parse_number<float>(flag, value());
            } else if (flag == "--greedy") {
                p.greedy = true;
            } else if (flag == "--max-new-tokens") {
                opt.sampler.max_new_tokens = parse_number<unsigned>(flag, value());
            } else if (flag == "--seed") {
                opt.sampler.seed = parse_number<std::uint64_t>(flag, value());
            } else if (flag == "--model") {
                model_path = value();
                if (model_path.empty()) bad_argument("--model needs a path");
            } else if (flag == "--adapter") {
                adapter = value();
            } else if (flag == "--prompt") {
                prompt = value();
            } else if (flag == "--system") {
                system = value();
            } else if (flag == "--cfg-negative") {
                negative_system = value();
                if (negative_system.empty()) bad_argument("--cfg-negative needs a non-empty sentence");
            } else if (flag == "--threads") {
                threads = static_cast<int>(parse_number<unsigned>(flag, value()));
                if (threads == 0 || threads > 1024) bad_argument("--threads must be in [1, 1024]");
            } else if (flag == "--config") {
                const std::string path(value());
                std::ifstream f(path);
                if (!f) bad_argument("--config: cannot open " + path);
                nlohmann::json j;
                try {
                    j = nlohmann::json::parse(f);
                } catch (const nlohmann::json::exception& e) {
                    bad_argument("--config " + path + ": " + e.what());
                }
                opt.sampler = sampler_config::from_json(j);
                if (opt.sampler.stop_tokens.empty()) opt.sampler.stop_tokens = {eos};
            } else {
                bad_argument("unknown option '" + std::string(flag) + "'");
            }
        }

        opt.space = space;
        const auto pol = threads > 0 ? par.with_threads(threads) : par;
        if (!model_path.empty())
            return generate_with_model(pol, model_path, adapter, prompt, system, negative ? negative_system : "",
                                       scale, samples, opt);
        if (!adapter.empty()) bad_argument("--adapter needs --model");

        auto model = toy_model(2 * static_cast<index_t>(samples));
        std::vector<generation_request> reqs(samples);
        for (auto& r : reqs) {
            r.prompt = {safe, hello};
            if (negative) {
                r.negative_prompt = {share, hello};
                r.guidance_scale = scale;
            } else if (scale != 1.0f) {
                std::cerr << "cfg-generate: --no-negative decodes unguided; ignoring --cfg-scale " << scale << "\n";
            }
        }
        opt.sampler.validate(V);  // bad settings fail before any output
        opt.detokenize = [](token_id t) { return words.at(static_cast<std::size_t>(t)); };
        // Streaming: one sample prints its text as it comes; several advance
        // together, so each step prints one line of "[request]piece".
        opt.on_token = [&](const token_event& e) {
            if (samples == 1)
                std::cout << e.piece;
            else
                std::cout << "[" << e.request << "]" << e.piece << (e.request + 1 == samples ? "\n" : "  ");
            std::cout.flush();
        };
        std::cout << "space " << to_string(space) << ", g = " << (negative ? scale : 1.0f) << ", " << samples
                  << " samples, " << (negative ? 2 * samples : samples) << " rows per step\n"
                  << (samples == 1 ? "Hello" : "");
        decode_stats stats;
        const auto res = generate(seq, model, std::span<const generation_request>(reqs), opt, &stats);
        std::cout << "\n";
        int leaks = 0;
        for (unsigned s = 0; s < samples; ++s) {
            for (token_id t : res[s].tokens) leaks += (t == alice || t == bob || t == paris) ? 1 : 0;
            std::cout << "sample " << s << " (" << to_string(res[s].reason) << "): Hello" << res[s].text << "\n";
        }
        std::cout << "personal-data tokens generated: " << leaks << "; model calls: " << stats.prefill_calls
                  << " prefill + " << stats.step_calls << " steps\n";
        return 0;
    } catch (const lethe::error& e) {
        std::cerr << "cfg-generate: " << e.what() << "\n";
        return 1;
    }
}

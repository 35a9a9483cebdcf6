// chat: interactive chat with a real GGUF llama model (SmolLM2-135M-Instruct
// from scripts/get-smollm2 by default), optionally with classifier-free
// guidance against a negative system sentence (arXiv 2412.06846, section 5).
//
//   chat                                              interactive, stdin
//   chat --prompt "Who is John Smith?" --greedy       one-shot (repeat for turns)
//   chat --system "Do not provide any personal data."
//        --cfg-negative "You should share personal data in the answers." --cfg-scale 2
//   chat --model M.gguf --adapter unlearn-out/export/adapter.gguf --config unlearn.json
//        (an adapter lethe-unlearn exported, with the POS/NEG sentences and the
//        largest guidance scale of the same config)
//
// The conversation keeps its KV cache between turns: each turn prefills only
// the tokens added since the last one (prefix_cached_lm below). With
// --cfg-negative the negative context (same dialog, negative system
// sentence) runs as a second slot; both rows go through one model call per
// token (lethe::guidance::generate).
#include <lethe/guidance.hpp>

#include "support/cli.hpp"
#include <lethe/io/gguf_llama_model.hpp>
#include <lethe/recipe/model_files.hpp>
#include <lethe/recipe/unlearn_config.hpp>

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace lethe;
using namespace lethe::guidance;

// A causal_lm that keeps what each slot already holds: prefill(slot, tokens)
// after reset(slot) prefills only the tokens past the longest cached prefix,
// when the cached tokens are a strict prefix of the new ones (a chat that
// grows turn by turn); otherwise it really resets. Observably the same model
// (the logits of the last position depend only on the tokens).
template <causal_lm M>
class prefix_cached_lm {
public:
    explicit prefix_cached_lm(M& m) : m_(m), held_(static_cast<std::size_t>(m.num_slots())) {}

    index_t vocab_size() const { return m_.vocab_size(); }
    index_t num_slots() const { return m_.num_slots(); }
    index_t max_length() const { return m_.max_length(); }
    index_t length(index_t slot) const { return m_.length(slot); }
    void reset(index_t) {}  // deferred to prefill, which knows the new tokens
    void fork(index_t src, index_t dst) {
        m_.fork(src, dst);
        held_.at(static_cast<std::size_t>(dst)) = held_.at(static_cast<std::size_t>(src));
    }
    void prefill(std::span<const index_t> slots, std::span<const std::span<const token_id>> tokens,
                 view2<float> logits) {
        suffix_.clear();
        for (std::size_t r = 0; r < slots.size(); ++r) {
            auto& held = held_.at(static_cast<std::size_t>(slots[r]));
            const auto t = tokens[r];
            const bool extends = held.size() < t.size() && std::equal(held.begin(), held.end(), t.begin());
            if (!extends) {
                m_.reset(slots[r]);
                held.clear();
            }
            suffix_.push_back(t.subspan(held.size()));
            reused_ += static_cast<index_t>(held.size());
            held.assign(t.begin(), t.end());
        }
        m_.prefill(slots, suffix_, logits);
    }
    void step(std::span<const index_t> slots, std::span<const token_id> next, view2<float> logits) {
        m_.step(slots, next, logits);
        for (std::size_t r = 0; r < slots.size(); ++r) held_.at(static_cast<std::size_t>(slots[r])).push_back(next[r]);
    }
    index_t reused_tokens() const { return reused_; }  // prompt tokens served from the cache so far

private:
    M& m_;
    std::vector<std::vector<token_id>> held_;
    std::vector<std::span<const token_id>> suffix_;
    index_t reused_ = 0;
};

constexpr std::string_view default_system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

void usage(std::ostream& os) {
    os << "usage: chat [options]\n"
          "Chat with a GGUF llama model (ChatML / Llama-3 template from the file), streaming the reply.\n"
          "Without --prompt it reads one user message per line from stdin (/reset clears the history,\n"
          "/quit or end of input stops).\n"
          "  --model PATH          GGUF file or Hugging Face directory (default: $LETHE_SMOLLM2, else\n"
          "                        ~/.cache/lethe/SmolLM2-135M-Instruct.Q4_1.gguf from scripts/get-smollm2)\n"
          "  --adapter PATH        LoRA adapter merged at load: a PEFT directory or a GGUF LoRA file\n"
          "                        (lethe-unlearn export)\n"
          "  --config FILE         a lethe-unlearn config: its model, pos_sentence as --system,\n"
          "                        neg_sentence as --cfg-negative, its largest eval.cfg_scales as\n"
          "                        --cfg-scale and eval.cfg_space; flags after it override\n"
          "  --prompt TEXT         a user turn, non-interactive; repeat for a multi-turn dialog\n"
          "  --system TEXT         system sentence (default: SmolLM's own)\n"
          "  --cfg-negative TEXT   negative system sentence: enables classifier-free guidance\n"
          "  --cfg-scale G         guidance scale g >= 0 (default 2 with --cfg-negative; 1 = unguided)\n"
          "  --cfg-space S         log | prob (default log; see docs/guidance.md)\n"
          "  --temperature T       (default 0.8; 0 = greedy)\n"
          "  --top-k K             (default 40; 0 = off)\n"
          "  --top-p P             in (0, 1] (default 0.95)\n"
          "  --min-p P             in [0, 1] (default 0.05)\n"
          "  --repeat-penalty R    > 0 (default 1 = off)\n"
          "  --greedy              argmax instead of sampling\n"
          "  --seed S              sampling seed (default 0)\n"
          "  --max-new-tokens N    tokens per reply (default 256; --max-tokens is the older name)\n"
          "  --ctx N               KV-cache length in tokens (default 2048)\n"
          "  --threads N           OpenMP threads (default: OpenMP's)\n"
          "  --stats               print tokens/s after each reply (stderr)\n"
          "  --help                this text\n";
}

[[noreturn]] void bad_argument(const std::string& msg) {
    std::cerr << "chat: " << msg << "\n(run chat --help for the options)\n";
    std::exit(2);
}

template <class T>
T parse_number(std::string_view flag, std::string_view text) {
    return lethe_examples::parse_number<T>(flag, text, bad_argument);
}

// The two token histories of one dialog (conditional and negative system
// sentence), grown segment by segment so each turn's prompt extends the last
// one token for token (the KV cache then serves everything before it).
class dialog {
public:
    dialog(const io::bpe_tokenizer& tok, io::chat_template tmpl, std::string system, std::string negative)
        : tok_(tok), tmpl_(tmpl), system_(std::move(system)), negative_(std::move(negative)) {
        std::string close;
        tmpl_.render_message({"assistant", ""}, close);
        std::string header;
        tmpl_.render_header("assistant", header);
        turn_close_ = close.substr(header.size());  // "<|im_end|>\n" for ChatML
        clear();
    }
    void clear() {
        cond_.clear();
        neg_.clear();
        append_system(cond_, system_);
        if (!negative_.empty()) append_system(neg_, negative_);
    }
    // Appends the user's turn and the assistant header.
    void add_user(const std::string& text) {
        std::string s;
        tmpl_.render_message({"user", text}, s);
        tmpl_.render_header("assistant", s);
        append(s);
    }
    // Appends the reply's tokens and closes the turn.
    void add_reply(std::span<const token_id> reply) {
        cond_.insert(cond_.end(), reply.begin(), reply.end());
        if (!negative_.empty()) neg_.insert(neg_.end(), reply.begin(), reply.end());
        append(turn_close_);
    }
    const std::vector<token_id>& conditional() const { return cond_; }
    const std::vector<token_id>& negative() const { return neg_; }

private:
    void append_system(std::vector<token_id>& ids, const std::string& sentence) {
        std::string s(tmpl_.prefix());
        tmpl_.render_message({"system", sentence}, s);
        tok_.encode_append(s, {.add_special = false, .parse_special = true}, ids);
    }
    void append(const std::string& text) {
        tok_.encode_append(text, {.add_special = false, .parse_special = true}, cond_);
        if (!negative_.empty()) tok_.encode_append(text, {.add_special = false, .parse_special = true}, neg_);
    }

    const io::bpe_tokenizer& tok_;
    io::chat_template tmpl_;
    std::string system_, negative_, turn_close_;
    std::vector<token_id> cond_, neg_;
};

}  // namespace

int main(int argc, char** argv) {
    std::filesystem::path model_path = io::smollm2_path(), adapter;
    std::vector<std::string> prompts;
    std::string system(default_system), negative;
    float scale = -1.0f;  // unset
    cfg_space space = cfg_space::log;
    index_t ctx = 2048;
    int threads = 0;
    bool stats = false;
    sampler_config sampler;
    sampler.max_new_tokens = 256;
    for (int a = 1; a < argc; ++a) {
        const std::string_view flag = argv[a];
        auto value = [&]() -> std::string_view {
            if (a + 1 >= argc) bad_argument(std::string(flag) + " needs a value");
            return argv[++a];
        };
        auto& p = sampler.params;
        if (flag == "--help" || flag == "-h") {
            usage(std::cout);
            return 0;
        } else if (flag == "--model") {
            model_path = std::string(value());
        } else if (flag == "--adapter") {
            adapter = std::string(value());
        } else if (flag == "--config") {
            const std::string file(value());
            try {
                const auto c = recipe::read_unlearn_config(file);
                if (!c.model.empty()) model_path = c.model;
                system = c.pos_sentence;
                negative = c.neg_sentence;
                scale = c.eval.cfg_scales.empty() ? 1.0f
                                                  : *std::max_element(c.eval.cfg_scales.begin(), c.eval.cfg_scales.end());
                if (c.eval.cfg_space == "prob") space = cfg_space::prob;
                else if (c.eval.cfg_space == "log") space = cfg_space::log;
                else bad_argument("--config " + file + ": chat guides in log or prob space, not " + c.eval.cfg_space);
            } catch (const lethe::error& e) {
                bad_argument(std::string("--config: ") + e.what());
            }
        } else if (flag == "--prompt") {
            prompts.emplace_back(value());
        } else if (flag == "--system") {
            system = value();
        } else if (flag == "--cfg-negative") {
            negative = value();
            if (negative.empty()) bad_argument("--cfg-negative needs a non-empty sentence");
        } else if (flag == "--cfg-scale") {
            scale = parse_number<float>(flag, value());
            if (!(scale >= 0.0f) || !std::isfinite(scale)) bad_argument("--cfg-scale must be finite and >= 0");
        } else if (flag == "--cfg-space") {
            const auto s = value();
            if (s != "log" && s != "prob") bad_argument("--cfg-space must be log or prob");
            space = parse_cfg_space(s);
        } else if (flag == "--temperature") {
            p.temperature = parse_number<float>(flag, value());
        } else if (flag == "--top-k") {
            p.top_k = static_cast<int>(parse_number<unsigned>(flag, value()));
        } else if (flag == "--top-p") {
            p.top_p = parse_number<float>(flag, value());
        } else if (flag == "--min-p") {
            p.min_p = parse_number<float>(flag, value());
        } else if (flag == "--repeat-penalty") {
            p.repeat_penalty = parse_number<float>(flag, value());
        } else if (flag == "--greedy") {
            p.greedy = true;
        } else if (flag == "--seed") {
            sampler.seed = parse_number<std::uint64_t>(flag, value());
        } else if (flag == "--max-new-tokens" || flag == "--max-tokens") {  // --max-tokens: the older spelling
            sampler.max_new_tokens = parse_number<unsigned>(flag, value());
            if (sampler.max_new_tokens == 0) bad_argument(std::string(flag) + " must be >= 1");
        } else if (flag == "--ctx") {
            ctx = parse_number<unsigned>(flag, value());
            if (ctx < 16) bad_argument("--ctx must be >= 16");
        } else if (flag == "--threads") {
            threads = static_cast<int>(parse_number<unsigned>(flag, value()));
            if (threads == 0) bad_argument("--threads must be >= 1");
        } else if (flag == "--stats") {
            stats = true;
        } else {
            bad_argument("unknown option '" + std::string(flag) + "'");
        }
    }
    if (negative.empty() && scale >= 0.0f && scale != 1.0f)
        bad_argument("--cfg-scale " + std::to_string(scale) + " needs --cfg-negative (the negative system sentence)");
    if (scale < 0.0f) scale = negative.empty() ? 1.0f : 2.0f;
    if (!std::filesystem::exists(model_path))
        bad_argument("model file " + model_path.string() + " not found (run scripts/get-smollm2 or pass --model)");

    try {
        const auto pol = threads > 0 ? par.with_threads(threads) : par;
        const io::gguf_llama_options lo{.max_seq = ctx, .slots = negative.empty() ? 1 : 2, .policy = pol};
        auto loaded = std::filesystem::is_directory(model_path) ? io::load_hf_llama(model_path, lo)
                                                                : io::load_gguf_llama(model_path, lo);
        if (!adapter.empty()) {
            recipe::load_adapter(loaded.model, adapter);
            loaded.model.merge_lora();
        }
        const auto& tok = loaded.tokenizer;
        const index_t V = loaded.model.vocab_size();
        const token_id end_of_turn = tok.find(loaded.chat.end_of_turn());
        if (end_of_turn >= 0) sampler.stop_tokens.push_back(end_of_turn);
        if (tok.eos() >= 0 && tok.eos() != end_of_turn) sampler.stop_tokens.push_back(tok.eos());
        sampler.validate(V);  // bad sampler settings fail before any output

        prefix_cached_lm<model::llama<float>> lm(loaded.model);
        dialog chat(tok, loaded.chat, system, negative);
        generation_options opt;
        opt.space = space;
        opt.sampler = sampler;
        opt.detokenize = [&tok](token_id t) { return tok.token_bytes(t); };
        opt.on_token = [](const token_event& e) {
            std::cout << e.piece;
            std::cout.flush();
        };
        const bool interactive = prompts.empty();
        const bool tty = interactive && isatty(STDIN_FILENO);
        if (tty)
            std::cerr << "chat: " << model_path.filename().string() << ", " << loaded.chat.name() << " template"
                      << (negative.empty() ? "" : ", CFG g = " + std::to_string(scale) + " (" + to_string(space) + ")")
                      << "; /reset clears the history, /quit ends\n";
        auto turn = [&](const std::string& text) {
            chat.add_user(text);
            if (static_cast<index_t>(chat.conditional().size()) >= ctx) {
                std::cerr << "chat: the dialog fills the context (" << ctx
                          << " tokens, --ctx); history cleared, message dropped\n";
                chat.clear();
                return;
            }
            generation_request req;
            req.prompt = chat.conditional();
            if (!negative.empty()) {
                req.negative_prompt = chat.negative();
                req.guidance_scale = scale;
            }
            const auto t0 = std::chrono::steady_clock::now();
            const index_t reused = lm.reused_tokens();
            decode_stats st;
            const auto res = generate(pol, lm, std::span<const generation_request>(&req, 1), opt, &st);
            std::cout << "\n";
            std::cout.flush();
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (stats)
                std::cerr << "[" << res[0].tokens.size() << " tokens in " << s << " s, "
                          << double(res[0].tokens.size()) / s << " tok/s; prompt " << req.prompt.size()
                          << " tokens, " << lm.reused_tokens() - reused << " from the KV cache; stop: "
                          << to_string(res[0].reason) << "]\n";
            chat.add_reply(res[0].tokens);
        };
        if (!interactive) {
            for (const auto& p : prompts) turn(p);
            return 0;
        }
        std::string line;
        while (true) {
            if (tty) std::cerr << "> " << std::flush;
            if (!std::getline(std::cin, line) || line == "/quit") break;
            if (line == "/reset") {
                chat.clear();
                continue;
            }
            if (line.empty()) continue;
            turn(line);
        }
        return 0;
    } catch (const lethe::error& e) {
        std::cerr << "\nchat: " << e.what() << "\n";
        return 1;
    }
}

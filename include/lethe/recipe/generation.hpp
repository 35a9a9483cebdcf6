// lethe/recipe/generation.hpp - stage 2's replacement answers written by a
// model (arXiv 2412.06846 section 3.2): the generator model continues each
// assistant answer from the byte before the personal data, prompted to avoid
// personal data, and a continuation is kept only when it is clean.
//
// Prompt, per occurrence: the dialog's messages before the assistant turn,
// with the system sentence "Avoid using any personal data in the answers!"
// in front of the system message and a nudge in front of the last user turn,
// rendered with the generator's chat template up to the assistant header,
// then the assistant's text up to the personal data. Decoding: the sampler
// chain at temperature 0.7 (the paper's), `candidates` samples in ONE batch
// (seeds seed + k), each cut at the end of the turn. Kept: the first
// candidate (in seed order) that is non-empty, in which the scanner finds no
// personal data and that holds none of the dialog's values; none clean after
// `rounds` batches: the occurrence is dropped (or, with the pair builder's
// policy_fallback, gets the policy's placeholder answer).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../eval/attack.hpp"
#include "../eval/tokenizer.hpp"
#include "../eval/utility.hpp"
#include "../core/utf8.hpp"
#include "../guidance/decode.hpp"
#include "../io/chat_template.hpp"
#include "../privacy/pair_builder.hpp"
#include "../privacy/scanner.hpp"
#include "lm_training.hpp"

namespace lethe::recipe {

struct answer_generation_options {
    std::string system_sentence = "Avoid using any personal data in the answers!";
    std::string nudge = "Answer without any personal data (no names, addresses, phone numbers, e-mails or dates). ";
    float temperature = 0.7f;
    index_t max_new_tokens = 64;
    index_t candidates = 4;  // samples per batch (slots needed: candidates)
    index_t rounds = 2;      // batches before giving up
    std::uint64_t seed = 1;

    void validate() const {
        constexpr const char* where = "answer_generation_options";
        require(temperature >= 0.0f, where, "temperature must be >= 0, got ", temperature);
        require(max_new_tokens > 0, where, "max_new_tokens must be positive, got ", max_new_tokens);
        require(candidates > 0 && rounds > 0, where, "candidates and rounds must be positive");
    }
};

struct answer_generation_stats {
    std::size_t requests = 0, generated = 0, clean = 0, gave_up = 0, tokens = 0;
    double seconds = 0;
    double tokens_per_second() const noexcept { return seconds > 0 ? double(tokens) / seconds : 0.0; }
};

// A privacy::continuation_generator over any causal_lm (the model being
// unlearned, or a second one). The model, tokenizer, template, scanner and
// stats must outlive the generator.
template <causal_lm M, eval::text_tokenizer Tok>
privacy::continuation_generator model_answer_generator(M& model, const Tok& tok, const io::chat_template& tpl,
                                                       const privacy::scanner& scan,
                                                       const answer_generation_options& opt,
                                                       answer_generation_stats* stats = nullptr) {
    opt.validate();
    require(model.num_slots() >= opt.candidates, "lethe::recipe::model_answer_generator", "the model has ",
            model.num_slots(), " slots, ", opt.candidates, " candidates need as many");
    auto served = std::make_shared<std::uint64_t>(0);  // requests so far: each gets its own seeds
    return [&model, &tok, &tpl, &scan, opt, stats, served](const privacy::generation_request& r) -> std::optional<std::string> {
        const std::uint64_t request = (*served)++;
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<io::chat_message> msgs(r.source->messages.begin(),
                                           r.source->messages.begin() + static_cast<std::ptrdiff_t>(r.turn));
        for (auto it = msgs.rbegin(); it != msgs.rend(); ++it)
            if (it->role == "user") {
                it->content = opt.nudge + it->content;
                break;
            }
        if (!msgs.empty() && msgs.front().role == "system")
            msgs.front().content = opt.system_sentence + "\n" + msgs.front().content;
        else
            msgs.insert(msgs.begin(), io::chat_message{"system", opt.system_sentence});
        std::string prompt = tpl.render(msgs, true);
        prompt += r.assistant_prefix;
        auto ids = tok.encode(prompt);
        // Keep the tail that leaves room for the answer.
        const index_t room = model.max_length() - opt.max_new_tokens;
        require(room > 0, "lethe::recipe::model_answer_generator", "max_new_tokens ", opt.max_new_tokens,
                " leaves no room in the model's context of ", model.max_length());
        if (static_cast<index_t>(ids.size()) > room) ids.erase(ids.begin(), ids.end() - room);

        guidance::generation_options go;
        go.sampler.params.temperature = opt.temperature;
        go.sampler.params.greedy = opt.temperature == 0.0f;
        go.sampler.max_new_tokens = opt.max_new_tokens;
        go.sampler.stop_tokens = {tok.eos()};
        go.sampler.stop_strings = {std::string(tpl.end_of_turn())};
        go.detokenize = [&tok](token_id t) {
            const token_id one[1] = {t};
            return std::string(tok.decode(std::span<const token_id>(one, 1)));
        };
        std::optional<std::string> kept;
        if (stats) ++stats->requests;
        for (index_t round = 0; round < opt.rounds && !kept; ++round) {
            std::vector<guidance::generation_request> reqs(static_cast<std::size_t>(opt.candidates));
            for (index_t k = 0; k < opt.candidates; ++k) {
                reqs[std::size_t(k)].prompt = ids;
                reqs[std::size_t(k)].seed =
                    opt.seed * 1000003ull + (request << 20) + std::uint64_t(round * opt.candidates + k);
            }
            const auto res = guidance::generate(seq, model, std::span<const guidance::generation_request>(reqs), go);
            for (const auto& g : res) {
                if (stats) ++stats->generated, stats->tokens += g.tokens.size();
                std::string text = to_valid_utf8(g.text);  // a byte-level model may stop mid-character
                const auto eot = text.find(tpl.end_of_turn());
                if (eot != std::string::npos) text.resize(eot);
                if (text.find_first_not_of(" \t\r\n") == std::string::npos) continue;
                if (scan.contains_any(text)) continue;
                bool holds_value = false;
                const std::string low = eval::lower_ascii(text);
                for (const auto& [label, value] : r.source->values) {
                    (void)label;
                    holds_value = holds_value || (value.size() >= 2 && low.find(eval::lower_ascii(value)) != std::string::npos);
                }
                if (holds_value) continue;
                kept = std::move(text);
                break;
            }
        }
        if (stats) {
            (kept ? stats->clean : stats->gave_up) += 1;
            stats->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
        return kept;
    };
}

// A rehearsal set for a fine-tune that must keep how a model answers (the
// replay of train_language_model): the model's own greedy answers to
// `prompts`, each a one-turn chat whose prompt is read and whose answer is
// trained on. An answer that the model ended itself (end of turn or end of
// sequence) is trained with the end of turn; one cut at max_new_tokens gets
// none, so the model is not taught to stop mid-sentence; an empty answer is
// left out. The prompts must share no fact with what utility is scored on
// (eval::general_prompts does not).
template <execution_policy P, causal_lm M, eval::text_tokenizer Tok>
std::vector<lm_example> self_replay_examples(const P& pol, M& model, const Tok& tok,
                                             std::span<const std::string> prompts, const io::chat_template& tpl,
                                             index_t max_new_tokens = 48) {
    require(max_new_tokens >= 1, "lethe::recipe::self_replay_examples", "max_new_tokens must be >= 1, got ",
            max_new_tokens);
    const std::string eot(tpl.end_of_turn());
    std::vector<std::string> context;
    std::vector<guidance::generation_request> reqs(prompts.size());
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        context.push_back(eval::qa_prompt(eval::qa_item{prompts[i], std::string()}, std::nullopt, tpl));
        reqs[i].prompt = tok.encode(context.back());
    }
    const auto res = eval::generate_greedy(pol, model, tok, std::span<const guidance::generation_request>(reqs),
                                           max_new_tokens, guidance::cfg_space::log, eot);
    std::vector<lm_example> out;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        std::string said = tok.decode(res[i].tokens);
        const auto cut = said.find(eot);
        if (cut != std::string::npos) said.resize(cut);
        said = to_valid_utf8(eval::trim_spaces(said));
        if (said.empty()) continue;
        const bool ended = res[i].reason != guidance::stop_reason::max_new_tokens;
        out.push_back({std::move(context[i]), said + (ended ? eot : std::string())});
    }
    return out;
}

}  // namespace lethe::recipe

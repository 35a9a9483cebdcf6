// lethe/eval/utility.hpp - what unlearning must not destroy: exact-match
// accuracy on questions and perplexity on clean text, over any causal_lm.
//
//   exact match  the question as a user turn (after the system message, if
//                the decoding setup has one) in the chat template, then the
//                assistant header; greedy decoding until the end of the turn
//                (or max_new_tokens); correct when the answer, trimmed of
//                spaces, equals the expected answer exactly.
//   perplexity   exp( sum of -log p(token | preceding tokens) / count ) over
//                every token after the first of each text (texts longer than
//                model.max_length() are cut to it).
#pragma once

#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "../core/causal_lm.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../core/numerics.hpp"
#include "../io/chat_template.hpp"
#include "decoding.hpp"
#include "tokenizer.hpp"

namespace lethe::eval {

struct qa_item {
    std::string question;
    std::string answer;
};

inline std::string qa_prompt(const qa_item& q, const std::optional<std::string>& system,
                             const io::chat_template& tpl = io::chat_template(io::chat_format::chatml)) {
    std::vector<io::chat_message> msgs;
    if (system) msgs.push_back({"system", *system});
    msgs.push_back({"user", q.question});
    return tpl.render(msgs, true);
}

// The answer as a chat turn (after a system message, if given): what a
// model is trained on.
inline std::string qa_document(const qa_item& q, const std::optional<std::string>& system,
                               const io::chat_template& tpl = io::chat_template(io::chat_format::chatml)) {
    std::vector<io::chat_message> msgs;
    if (system) msgs.push_back({"system", *system});
    msgs.push_back({"user", q.question});
    msgs.push_back({"assistant", q.answer});
    return tpl.render(msgs);
}
inline std::string qa_document(const qa_item& q, const io::chat_template& tpl = io::chat_template(io::chat_format::chatml)) {
    return qa_document(q, std::nullopt, tpl);
}

inline std::string trim_spaces(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
    return std::string(s);
}

struct qa_report {
    index_t questions = 0, correct = 0;
    std::vector<std::string> answers;  // what the model said, in question order
    double accuracy() const noexcept { return questions ? double(correct) / double(questions) : 0.0; }
};

template <execution_policy P, causal_lm M, text_tokenizer Tok>
qa_report exact_match(const P& pol, M& model, const Tok& tok, std::span<const qa_item> items,
                      const decoding_setup& setup = {}, index_t max_new_tokens = 32,
                      const io::chat_template& tpl = io::chat_template(io::chat_format::chatml)) {
    setup.validate("lethe::eval::exact_match");
    std::vector<guidance::generation_request> reqs(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        reqs[i].prompt = tok.encode(qa_prompt(items[i], setup.system, tpl));
        if (setup.negative_system) {
            reqs[i].negative_prompt = tok.encode(qa_prompt(items[i], setup.negative_system, tpl));
            reqs[i].guidance_scale = setup.guidance_scale;
        }
    }
    const auto res = generate_greedy(pol, model, tok, std::span<const guidance::generation_request>(reqs),
                                     max_new_tokens, setup.space, std::string(tpl.end_of_turn()));
    qa_report rep;
    for (std::size_t i = 0; i < items.size(); ++i) {
        std::string said = tok.decode(res[i].tokens);
        const auto eot = said.find(tpl.end_of_turn());
        if (eot != std::string::npos) said.resize(eot);
        said = trim_spaces(said);
        rep.questions += 1;
        rep.correct += said == trim_spaces(items[i].answer);
        rep.answers.push_back(std::move(said));
    }
    return rep;
}

struct perplexity_report {
    double nll_sum = 0.0;  // nats
    index_t tokens = 0;    // predicted tokens
    double mean_nll() const noexcept { return tokens ? nll_sum / double(tokens) : 0.0; }
    double perplexity() const noexcept { return std::exp(mean_nll()); }
};

// Teacher-forced: one prefill of each text's first token, then one step per
// token for all texts of a chunk together (one slot each).
template <causal_lm M, text_tokenizer Tok>
perplexity_report perplexity(M& model, const Tok& tok, std::span<const std::string> texts) {
    constexpr const char* where = "lethe::eval::perplexity";
    const index_t V = model.vocab_size(), S = model.num_slots(), L = model.max_length();
    require(S >= 1, where, "the model has no slots");
    std::vector<std::vector<token_id>> toks;
    for (const auto& t : texts) {
        auto ids = tok.encode(t);
        if (static_cast<index_t>(ids.size()) > L) ids.resize(static_cast<std::size_t>(L));
        if (ids.size() >= 2) toks.push_back(std::move(ids));
    }
    perplexity_report rep;
    std::vector<float> logits(static_cast<std::size_t>(S * V));
    for (std::size_t c = 0; c < toks.size(); c += static_cast<std::size_t>(S)) {
        const std::size_t n = std::min(toks.size() - c, static_cast<std::size_t>(S));
        std::vector<index_t> slots(n);
        std::vector<std::span<const token_id>> first(n);
        for (std::size_t r = 0; r < n; ++r) {
            slots[r] = static_cast<index_t>(r);
            model.reset(slots[r]);
            first[r] = std::span<const token_id>(toks[c + r].data(), 1);
        }
        model.prefill(std::span<const index_t>(slots), std::span<const std::span<const token_id>>(first),
                      make_view(logits.data(), static_cast<index_t>(n), V));
        // live[r]: chunk row r still has tokens to predict; pos[r]: the next one.
        std::vector<std::size_t> rows(n);
        for (std::size_t r = 0; r < n; ++r) rows[r] = r;
        std::vector<std::size_t> pos(n, 1);
        std::vector<index_t> step_slots;
        std::vector<token_id> next;
        for (;;) {
            // Score the token each live row predicts now, then feed it.
            step_slots.clear();
            next.clear();
            std::vector<std::size_t> keep;
            for (std::size_t k = 0; k < rows.size(); ++k) {
                const std::size_t r = rows[k];
                const auto& ids = toks[c + r];
                const float* row = logits.data() + static_cast<std::ptrdiff_t>(k) * V;
                const token_id target = ids[pos[r]];
                rep.nll_sum += double(logsumexp(row, V, 1)) - double(row[target]);
                rep.tokens += 1;
                if (pos[r] + 1 < ids.size()) {
                    keep.push_back(r);
                    step_slots.push_back(static_cast<index_t>(r));
                    next.push_back(target);
                    ++pos[r];
                }
            }
            if (keep.empty()) break;
            rows = keep;
            model.step(std::span<const index_t>(step_slots), std::span<const token_id>(next),
                       make_view(logits.data(), static_cast<index_t>(rows.size()), V));
        }
    }
    require(rep.tokens > 0, where, "no text has two or more tokens");
    return rep;
}

}  // namespace lethe::eval

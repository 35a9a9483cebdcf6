// lethe/eval/multiple_choice.hpp - utility as multiple-choice log-likelihood
// accuracy, the lm-evaluation-harness convention (MMLU, ARC, HellaSwag):
// the model never generates; each choice is scored as a continuation of the
// question and the most likely one is the model's answer.
//
//   context   the question as a user turn in the chat template (after the
//             decoding setup's system message, if any), then the assistant
//             header: qa_prompt
//   loglik_c  sum over the tokens of choice c of log p(token | context,
//             earlier tokens of c); the choice is tokenised on its own and
//             appended to the context's tokens
//   acc       argmax_c loglik_c == answer          (harness "acc")
//   acc_norm  argmax_c loglik_c / bytes(c) == answer (harness "acc_norm")
// Under a guided decoding setup every distribution is the CFG-combined one
// (log space: log_softmax(u + g (s - u)); probability space: q + g (p - q)
// clamped at 0 and renormalised), so guided variants are scored on what they
// would sample from. Ties go to the lower index. The context and its
// negative are prefilled once per question and forked into one slot per
// choice; all choices then step together.
#pragma once

#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/causal_lm.hpp"
#include "../core/error.hpp"
#include "../core/row_ops.hpp"
#include "../guidance/cfg.hpp"
#include "decoding.hpp"
#include "tokenizer.hpp"
#include "utility.hpp"

namespace lethe::eval {

struct mc_item {
    std::string question;
    std::vector<std::string> choices;  // at least 2, none empty
    index_t answer = 0;                // index of the right choice
};

struct mc_report {
    index_t questions = 0, correct = 0, correct_norm = 0;
    std::vector<index_t> picked;                // argmax of loglik per question
    std::vector<std::vector<double>> loglik;    // per question, per choice (nats)
    double accuracy() const noexcept { return questions ? double(correct) / double(questions) : 0.0; }
    double accuracy_norm() const noexcept { return questions ? double(correct_norm) / double(questions) : 0.0; }
};

// One item from {"question": str, "choices": [str, ...], "answer": int | str}
// (answer: the index, or the text of one choice, or a letter "A".."Z").
// `where` names the file and line for errors.
inline mc_item mc_item_from_json(const nlohmann::json& j, const std::string& where) {
    require(j.is_object(), where, ": expected an object {question, choices, answer}");
    for (const auto& [k, v] : j.items()) {
        (void)v;
        require(k == "question" || k == "choices" || k == "answer" || k == "id" || k == "subject", where,
                ": unknown field '", k, "' (expected question, choices, answer, and optionally id, subject)");
    }
    mc_item it;
    require(j.contains("question") && j["question"].is_string(), where, ": field 'question' must be a string");
    it.question = j["question"].get<std::string>();
    require(j.contains("choices") && j["choices"].is_array() && j["choices"].size() >= 2, where,
            ": field 'choices' must be an array of at least 2 strings");
    for (std::size_t i = 0; i < j["choices"].size(); ++i) {
        const auto& c = j["choices"][i];
        require(c.is_string() && !c.get<std::string>().empty(), where, ": choices[", i, "] must be a non-empty string");
        it.choices.push_back(c.get<std::string>());
    }
    require(j.contains("answer"), where, ": missing field 'answer'");
    const auto& a = j["answer"];
    const index_t n = static_cast<index_t>(it.choices.size());
    if (a.is_number_integer()) {
        it.answer = a.get<index_t>();
    } else if (a.is_string()) {
        const std::string s = a.get<std::string>();
        it.answer = -1;
        for (index_t i = 0; i < n; ++i)
            if (it.choices[static_cast<std::size_t>(i)] == s) it.answer = i;
        if (it.answer < 0 && s.size() == 1 && s[0] >= 'A' && s[0] <= 'Z') it.answer = s[0] - 'A';
        require(it.answer >= 0, where, ": answer '", s, "' is neither a choice nor a letter");
    } else {
        fail(where, ": field 'answer' must be an integer index or a string");
    }
    require(it.answer >= 0 && it.answer < n, where, ": answer ", it.answer, " is outside [0, ", n, ")");
    return it;
}

namespace detail {
// Log-probabilities of the row the model's next token is drawn from, under
// the decoding setup: out = log_softmax(cond) unguided; CFG-combined and
// normalised when guided.
inline void mc_logprobs(const float* cond, const float* neg, index_t V, const decoding_setup& setup,
                        std::vector<float>& out) {
    out.resize(static_cast<std::size_t>(V));
    auto log_normalise = [&](std::vector<float>& r) {
        const float lse = logsumexp(r.data(), V, 1);
        for (auto& x : r) x -= lse;
    };
    if (!setup.guided()) {
        out.assign(cond, cond + V);
        log_normalise(out);
        return;
    }
    const auto space = setup.space == guidance::cfg_space::prob ? guidance::cfg_space::prob_sample : setup.space;
    const auto prm = guidance::cfg_params::make(space, setup.guidance_scale);
    guidance::cfg_combine_one(seq, make_view(cond, 1, V), make_view(neg, 1, V), make_view(out.data(), 1, V), prm);
    if (space == guidance::cfg_space::prob_sample) {
        for (auto& x : out) x = x > 0.0f ? std::log(x) : -std::numeric_limits<float>::infinity();
    } else {
        log_normalise(out);
    }
}
}  // namespace detail

template <causal_lm M, text_tokenizer Tok>
mc_report multiple_choice(M& model, const Tok& tok, std::span<const mc_item> items, const decoding_setup& setup = {},
                          const io::chat_template& tpl = io::chat_template(io::chat_format::chatml)) {
    constexpr const char* where = "lethe::eval::multiple_choice";
    setup.validate(where);
    const index_t V = model.vocab_size(), S = model.num_slots(), L = model.max_length();
    const index_t per_choice = setup.guided() ? 2 : 1;
    mc_report rep;
    std::vector<float> logits, lp;
    for (std::size_t q = 0; q < items.size(); ++q) {
        const auto& it = items[q];
        const index_t C = static_cast<index_t>(it.choices.size());
        require(C >= 2, where, "question ", q, ": fewer than 2 choices");
        require(it.answer >= 0 && it.answer < C, where, "question ", q, ": answer ", it.answer, " outside [0, ", C, ")");
        require(C * per_choice <= S, where, "question ", q, ": ", C, " choices need ", C * per_choice,
                " slots, the model has ", S);
        const auto ctx = tok.encode(qa_prompt({it.question, {}}, setup.system, tpl));
        std::vector<token_id> nctx;
        if (setup.guided()) nctx = tok.encode(qa_prompt({it.question, {}}, setup.negative_system, tpl));
        std::vector<std::vector<token_id>> cont(static_cast<std::size_t>(C));
        std::size_t longest = 0;
        for (index_t c = 0; c < C; ++c) {
            cont[std::size_t(c)] = tok.encode(it.choices[std::size_t(c)]);
            require(!cont[std::size_t(c)].empty(), where, "question ", q, ", choice ", c, ": no tokens");
            longest = std::max(longest, cont[std::size_t(c)].size());
        }
        require(static_cast<index_t>(std::max(ctx.size(), nctx.size()) + longest) <= L, where, "question ", q,
                ": context and choice (", std::max(ctx.size(), nctx.size()) + longest, " tokens) exceed the model's ",
                L);
        // Slots: choice c conditional in c, its negative in C + c.
        logits.assign(static_cast<std::size_t>(2 * V), 0.0f);
        {
            std::vector<index_t> slots = {0};
            std::vector<std::span<const token_id>> toks = {std::span<const token_id>(ctx)};
            if (setup.guided()) {
                slots.push_back(C);
                toks.push_back(std::span<const token_id>(nctx));
            }
            for (auto s : slots) model.reset(s);
            model.prefill(std::span<const index_t>(slots), std::span<const std::span<const token_id>>(toks),
                          make_view(logits.data(), static_cast<index_t>(slots.size()), V));
        }
        // The first continuation token's distribution is the same for every choice.
        detail::mc_logprobs(logits.data(), logits.data() + V, V, setup, lp);
        std::vector<double> ll(static_cast<std::size_t>(C), 0.0);
        for (index_t c = 0; c < C; ++c) {
            ll[std::size_t(c)] = double(lp[static_cast<std::size_t>(cont[std::size_t(c)][0])]);
            if (c > 0) model.fork(0, c);
            if (setup.guided() && c > 0) model.fork(C, C + c);
        }
        for (std::size_t t = 0; t + 1 < longest; ++t) {
            // Choices with a token t + 1 to score feed token t and read the next row.
            std::vector<index_t> live, slots;
            std::vector<token_id> next;
            for (index_t c = 0; c < C; ++c)
                if (t + 1 < cont[std::size_t(c)].size()) live.push_back(c);
            for (auto c : live) {
                slots.push_back(c);
                next.push_back(cont[std::size_t(c)][t]);
            }
            if (setup.guided())
                for (auto c : live) {
                    slots.push_back(C + c);
                    next.push_back(cont[std::size_t(c)][t]);
                }
            logits.resize(slots.size() * static_cast<std::size_t>(V));
            model.step(std::span<const index_t>(slots), std::span<const token_id>(next),
                       make_view(logits.data(), static_cast<index_t>(slots.size()), V));
            const std::size_t n = live.size();
            for (std::size_t k = 0; k < n; ++k) {
                const float* cond = logits.data() + k * std::size_t(V);
                const float* neg = setup.guided() ? logits.data() + (n + k) * std::size_t(V) : cond;
                detail::mc_logprobs(cond, neg, V, setup, lp);
                ll[std::size_t(live[k])] += double(lp[static_cast<std::size_t>(cont[std::size_t(live[k])][t + 1])]);
            }
        }
        index_t best = 0, best_norm = 0;
        for (index_t c = 1; c < C; ++c) {
            if (ll[std::size_t(c)] > ll[std::size_t(best)]) best = c;
            const double a = ll[std::size_t(c)] / double(it.choices[std::size_t(c)].size());
            const double b = ll[std::size_t(best_norm)] / double(it.choices[std::size_t(best_norm)].size());
            if (a > b) best_norm = c;
        }
        rep.questions += 1;
        rep.correct += best == it.answer;
        rep.correct_norm += best_norm == it.answer;
        rep.picked.push_back(best);
        rep.loglik.push_back(std::move(ll));
    }
    return rep;
}

}  // namespace lethe::eval

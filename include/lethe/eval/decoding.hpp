// lethe/eval/decoding.hpp - how evaluation decodes: the system sentences,
// classifier-free guidance settings, and greedy generation of any number of
// requests in chunks that fit the model's slots.
#pragma once

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "../core/causal_lm.hpp"
#include "../core/error.hpp"
#include "../core/execution.hpp"
#include "../guidance/decode.hpp"
#include "tokenizer.hpp"

namespace lethe::eval {

// Greedy decoding, optionally guided (arXiv 2412.06846 section 4): the
// conditional context carries `system`, the negative one `negative_system`.
struct decoding_setup {
    // Put in front of a dialog's system message (render_options), or the
    // whole system message of a question.
    std::optional<std::string> system;
    std::optional<std::string> negative_system;  // set: CFG with the scale and space below
    float guidance_scale = 1.0f;
    guidance::cfg_space space = guidance::cfg_space::log;

    bool guided() const noexcept { return negative_system.has_value(); }
    void validate(const char* where) const {
        require(!negative_system || system, where, "a negative system sentence needs a conditional one");
        require(guided() || guidance_scale == 1.0f, where, "guidance scale ", guidance_scale,
                " without a negative system sentence");
        require(guidance_scale >= 0.0f, where, "guidance scale must be >= 0, got ", guidance_scale);
    }
};

// Greedy generation of every request, in chunks of as many requests as the
// model's slots hold (two slots per guided request). Stops at `stop` when
// it is non-empty, else after max_new_tokens.
template <execution_policy P, causal_lm M, text_tokenizer Tok>
std::vector<guidance::generation_result> generate_greedy(const P& pol, M& model, const Tok& tok,
                                                         std::span<const guidance::generation_request> requests,
                                                         index_t max_new_tokens, guidance::cfg_space space,
                                                         const std::string& stop = {}) {
    constexpr const char* where = "lethe::eval::generate_greedy";
    require(model.num_slots() >= 2, where, "the model needs at least 2 slots, has ", model.num_slots());
    guidance::generation_options opt;
    opt.space = space;
    opt.sampler.params.greedy = true;
    opt.sampler.max_new_tokens = max_new_tokens;
    opt.sampler.stop_tokens = {tok.eos()};
    if (!stop.empty()) opt.sampler.stop_strings = {stop};
    opt.detokenize = [&tok](token_id t) {
        const token_id one[1] = {t};
        return std::string(tok.decode(std::span<const token_id>(one, 1)));
    };
    std::vector<guidance::generation_result> out;
    out.reserve(requests.size());
    std::size_t i = 0;
    while (i < requests.size()) {
        std::size_t j = i;
        index_t slots = 0;
        while (j < requests.size()) {
            const index_t need = requests[j].negative_prompt.empty() ? 1 : 2;
            if (slots + need > model.num_slots()) break;
            slots += need;
            ++j;
        }
        auto part = guidance::generate(pol, model, requests.subspan(i, j - i), opt);
        for (auto& r : part) out.push_back(std::move(r));
        i = j;
    }
    return out;
}

// Keeps at most `limit` tokens: all of `head` (the system message) and the tail
// of `body`.
inline std::vector<token_id> windowed(std::vector<token_id> head, const std::vector<token_id>& body, index_t limit) {
    const index_t keep = std::max<index_t>(0, limit - static_cast<index_t>(head.size()));
    const std::size_t from = body.size() > static_cast<std::size_t>(keep) ? body.size() - static_cast<std::size_t>(keep) : 0;
    head.insert(head.end(), body.begin() + static_cast<std::ptrdiff_t>(from), body.end());
    return head;
}

}  // namespace lethe::eval

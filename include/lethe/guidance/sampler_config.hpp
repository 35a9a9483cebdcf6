// lethe/guidance/sampler_config.hpp - the sampler chain as users configure it:
// in code or from JSON, with the stop conditions of a generation.
//
// JSON (every key optional; unknown keys are an error):
//   {"chain": ["logit_bias", "banned", "penalties", "top_k", "typical",
//              "top_p", "min_p", "temperature"],     // the default order
//    "greedy": false, "temperature": 0.8, "top_k": 40, "top_p": 0.95,
//    "min_p": 0.05, "typical_p": 1.0, "min_keep": 1,
//    "repeat_penalty": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0,
//    "penalty_last_n": 64,
//    "logit_bias": {"17": -2.5, "42": 1.0}, "banned_tokens": [3, 4],
//    "stop_tokens": [2], "stop_strings": ["\n\n"], "max_new_tokens": 128,
//    "seed": 1234}
// Defaults follow llama.cpp's documented ones (temperature 0.8, top-k 40,
// top-p 0.95, min-p 0.05, typical 1.0, repeat-last-n 64).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sampler.hpp"

namespace lethe::guidance {

struct sampler_config {
    sampler_params params;  // bias/banned pointers are filled by resolved()
    index_t penalty_last_n = 64;
    std::vector<token_id> bias_ids;
    std::vector<float> bias_values;
    std::vector<token_id> banned_tokens;
    std::vector<token_id> stop_tokens;
    std::vector<std::string> stop_strings;
    index_t max_new_tokens = 128;
    std::uint64_t seed = 0;

    // Chain in a user-chosen order (names as in the JSON form).
    sampler_config& with_chain(std::initializer_list<sampler_step> steps) {
        require(steps.size() <= static_cast<std::size_t>(max_chain_length), "sampler_config", "chain longer than ",
                max_chain_length);
        params.chain_length = 0;
        for (auto s : steps) params.chain[params.chain_length++] = s;
        return *this;
    }
    sampler_config& add_logit_bias(token_id id, float bias) {
        bias_ids.push_back(id);
        bias_values.push_back(bias);
        return *this;
    }

    // params with the bias/banned pointers aimed at this object's vectors
    // (valid while it lives and is not modified).
    sampler_params resolved() const {
        sampler_params p = params;
        p.bias_ids = bias_ids.data();
        p.bias_values = bias_values.data();
        p.num_bias = static_cast<index_t>(bias_ids.size());
        p.banned_ids = banned_tokens.data();
        p.num_banned = static_cast<index_t>(banned_tokens.size());
        return p;
    }

    // Throws lethe::error naming the offending field.
    void validate(index_t vocab_size) const {
        constexpr const char* where = "sampler_config";
        require(bias_ids.size() == bias_values.size(), where, "logit_bias ids and values differ in length");
        const sampler_params p = resolved();
        ::lethe::guidance::validate(p, vocab_size, where);
        detail::validate_ids(p, vocab_size, where);
        require(penalty_last_n >= 0, where, "penalty_last_n = ", penalty_last_n, " must be >= 0");
        require(max_new_tokens >= 0, where, "max_new_tokens = ", max_new_tokens, " must be >= 0");
        for (std::size_t k = 0; k < stop_tokens.size(); ++k)
            require(stop_tokens[k] >= 0 && stop_tokens[k] < vocab_size, where, "stop_tokens[", k, "] = ",
                    stop_tokens[k], " outside [0, ", vocab_size, ")");
        for (std::size_t k = 0; k < stop_strings.size(); ++k)
            require(!stop_strings[k].empty(), where, "stop_strings[", k, "] is empty");
    }

    static sampler_config from_json(const nlohmann::json& j);
    nlohmann::json to_json() const;
};

inline sampler_config sampler_config::from_json(const nlohmann::json& j) {
    constexpr const char* where = "sampler_config::from_json";
    require(j.is_object(), where, "expected a JSON object, got ", j.type_name());
    sampler_config c;
    auto number = [&](const std::string& key, const nlohmann::json& v) -> double {
        require(v.is_number(), where, "\"", key, "\" must be a number, got ", v.type_name());
        return v.get<double>();
    };
    auto integer = [&](const std::string& key, const nlohmann::json& v) -> std::int64_t {
        require(v.is_number_integer(), where, "\"", key, "\" must be an integer, got ", v.type_name());
        return v.get<std::int64_t>();
    };
    auto id_list = [&](const std::string& key, const nlohmann::json& v) {
        require(v.is_array(), where, "\"", key, "\" must be an array of token ids");
        std::vector<token_id> out;
        for (std::size_t k = 0; k < v.size(); ++k)
            out.push_back(static_cast<token_id>(integer(key + "[" + std::to_string(k) + "]", v[k])));
        return out;
    };
    for (const auto& [key, v] : j.items()) {
        auto& p = c.params;
        if (key == "chain") {
            require(v.is_array(), where, "\"chain\" must be an array of step names");
            require(v.size() <= static_cast<std::size_t>(max_chain_length), where, "\"chain\" longer than ",
                    max_chain_length);
            p.chain_length = 0;
            for (std::size_t k = 0; k < v.size(); ++k) {
                require(v[k].is_string(), where, "chain[", k, "] must be a string");
                p.chain[p.chain_length++] = parse_sampler_step(v[k].get<std::string>());
            }
        } else if (key == "greedy") {
            require(v.is_boolean(), where, "\"greedy\" must be true or false");
            p.greedy = v.get<bool>();
        } else if (key == "temperature") {
            p.temperature = static_cast<float>(number(key, v));
        } else if (key == "top_k") {
            p.top_k = static_cast<int>(integer(key, v));
        } else if (key == "top_p") {
            p.top_p = static_cast<float>(number(key, v));
        } else if (key == "min_p") {
            p.min_p = static_cast<float>(number(key, v));
        } else if (key == "typical_p") {
            p.typical_p = static_cast<float>(number(key, v));
        } else if (key == "min_keep") {
            p.min_keep = static_cast<int>(integer(key, v));
        } else if (key == "repeat_penalty") {
            p.repeat_penalty = static_cast<float>(number(key, v));
        } else if (key == "frequency_penalty") {
            p.frequency_penalty = static_cast<float>(number(key, v));
        } else if (key == "presence_penalty") {
            p.presence_penalty = static_cast<float>(number(key, v));
        } else if (key == "penalty_last_n") {
            c.penalty_last_n = integer(key, v);
        } else if (key == "logit_bias") {
            require(v.is_object(), where, "\"logit_bias\" must map token ids (as strings) to numbers");
            for (const auto& [id, b] : v.items()) {
                std::size_t used = 0;
                long long t = -1;
                try {
                    t = std::stoll(id, &used);
                } catch (const std::exception&) {
                    used = 0;
                }
                require(used == id.size() && !id.empty(), where, "logit_bias key '", id, "' is not a token id");
                c.add_logit_bias(static_cast<token_id>(t), static_cast<float>(number("logit_bias." + id, b)));
            }
        } else if (key == "banned_tokens") {
            c.banned_tokens = id_list(key, v);
        } else if (key == "stop_tokens") {
            c.stop_tokens = id_list(key, v);
        } else if (key == "stop_strings") {
            require(v.is_array(), where, "\"stop_strings\" must be an array of strings");
            for (std::size_t k = 0; k < v.size(); ++k) {
                require(v[k].is_string(), where, "stop_strings[", k, "] must be a string");
                c.stop_strings.push_back(v[k].get<std::string>());
            }
        } else if (key == "max_new_tokens") {
            c.max_new_tokens = integer(key, v);
        } else if (key == "seed") {
            require(v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0), where,
                    "\"seed\" must be a non-negative integer");
            c.seed = v.get<std::uint64_t>();
        } else {
            fail(where, "unknown key \"", key, "\"");
        }
    }
    return c;
}

inline nlohmann::json sampler_config::to_json() const {
    nlohmann::json j;
    auto chain = nlohmann::json::array();
    for (int s = 0; s < params.chain_length; ++s) chain.push_back(to_string(params.chain[s]));
    j["chain"] = chain;
    j["greedy"] = params.greedy;
    j["temperature"] = params.temperature;
    j["top_k"] = params.top_k;
    j["top_p"] = params.top_p;
    j["min_p"] = params.min_p;
    j["typical_p"] = params.typical_p;
    j["min_keep"] = params.min_keep;
    j["repeat_penalty"] = params.repeat_penalty;
    j["frequency_penalty"] = params.frequency_penalty;
    j["presence_penalty"] = params.presence_penalty;
    j["penalty_last_n"] = penalty_last_n;
    auto bias = nlohmann::json::object();
    for (std::size_t k = 0; k < bias_ids.size(); ++k) bias[std::to_string(bias_ids[k])] = bias_values[k];
    j["logit_bias"] = bias;
    j["banned_tokens"] = banned_tokens;
    j["stop_tokens"] = stop_tokens;
    j["stop_strings"] = stop_strings;
    j["max_new_tokens"] = max_new_tokens;
    j["seed"] = seed;
    return j;
}

}  // namespace lethe::guidance

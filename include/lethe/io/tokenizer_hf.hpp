// lethe/io/tokenizer_hf.hpp - byte-level BPE tokenizers in Hugging Face's
// files: tokenizer.json (the `tokenizers` library's serialisation) and
// tokenizer_config.json (transformers' special tokens and chat template).
//
// Read from tokenizer.json:
//   model: {"type": "BPE", "vocab": {text: id}, "merges": ["a b", ...] or
//          [["a", "b"], ...]}  (byte_fallback, ignore_merges, a
//          continuing_subword_prefix or end_of_word_suffix are refused)
//   added_tokens: [{"id", "content", "special"}]: special -> control,
//          otherwise user_defined (llama.cpp's converter's rule); ids past
//          the vocabulary extend it, holes become unused "[PAD<i>]" tokens
//   normalizer: must be null
//   pre_tokenizer: ByteLevel (use_regex, no prefix space)       -> gpt2
//          Sequence[Digits(individual_digits), ByteLevel(...)]  -> digits_then_gpt2
//          anything else throws naming the JSON it found
// and from tokenizer_config.json (optional): bos_token, eos_token,
// unk_token, pad_token (a string or {"content": ...}), add_bos_token,
// add_eos_token, chat_template (a string, or a list of {name, template}:
// "default"). Errors name the file and the field.
//
// Written (write_hf_tokenizer): the same fields, merges in the "a b" form
// every tokenizers version reads, ByteLevel decoder and post-processor.
#pragma once

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "atomic_file.hpp"
#include "tokenizer.hpp"

namespace lethe::io {

struct hf_tokenizer_files {
    nlohmann::json tokenizer;         // tokenizer.json
    nlohmann::json config = nullptr;  // tokenizer_config.json (null when absent)
    nlohmann::json model_config = nullptr;  // config.json (bos/eos_token_id fallback; may be null)
    std::string source = "<memory>";  // directory, for error messages
};

// The tokenizer of parsed HF files; `chat_template_out` (optional) receives
// tokenizer_config.json's chat_template ("" when absent).
bpe_tokenizer bpe_tokenizer_from_hf(const hf_tokenizer_files& files, std::string* chat_template_out = nullptr);
// Reads dir/tokenizer.json, dir/tokenizer_config.json (optional) and
// dir/config.json (optional).
bpe_tokenizer load_hf_tokenizer(const std::filesystem::path& dir, std::string* chat_template_out = nullptr);

// tokenizer.json and tokenizer_config.json for `tok` (as JSON / into dir,
// each file atomic).
nlohmann::json hf_tokenizer_json(const bpe_tokenizer& tok);
nlohmann::json hf_tokenizer_config_json(const bpe_tokenizer& tok, std::string_view chat_template_text);
void write_hf_tokenizer(const std::filesystem::path& dir, const bpe_tokenizer& tok, std::string_view chat_template_text);

// Reads a JSON file; errors name the path.
nlohmann::json read_json_file(const std::filesystem::path& p, std::string_view where);

// ---- implementation -----------------------------------------------------------

namespace tokenizer_hf_detail {
inline constexpr std::string_view where = "lethe::io::bpe_tokenizer_from_hf";

inline bool is_byte_level(const nlohmann::json& p) {
    return p.is_object() && p.value("type", "") == "ByteLevel" && p.value("use_regex", true) &&
           !p.value("add_prefix_space", false);
}
}  // namespace tokenizer_hf_detail

inline nlohmann::json read_json_file(const std::filesystem::path& p, std::string_view where) {
    std::ifstream in(p, std::ios::binary);
    require(in.good(), where, "cannot open '", p.string(), "'");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail(where, p.string(), ": invalid JSON: ", e.what());
    }
}

inline bpe_tokenizer bpe_tokenizer_from_hf(const hf_tokenizer_files& files, std::string* chat_template_out) {
    using namespace tokenizer_hf_detail;
    const std::string tj = files.source + "/tokenizer.json";
    const std::string tc = files.source + "/tokenizer_config.json";
    const auto& j = files.tokenizer;
    require(j.is_object(), where, tj, ": expected a JSON object");
    require(j.contains("model") && j["model"].is_object(), where, tj, ": field 'model' is missing or not an object");
    const auto& m = j["model"];
    const std::string type = m.value("type", "BPE");
    require(type == "BPE", where, tj, ": model.type is '", type, "'; lethe reads byte-level BPE models only");
    require(!m.value("byte_fallback", false), where, tj, ": model.byte_fallback (SentencePiece-style BPE) is not supported");
    require(!m.value("ignore_merges", false), where, tj, ": model.ignore_merges is not supported");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
        require(!m.contains(k) || m[k].is_null() || (m[k].is_string() && m[k].get<std::string>().empty()), where, tj,
                ": model.", k, " is not supported");
    require(m.contains("vocab") && m["vocab"].is_object(), where, tj, ": field 'model.vocab' is missing or not an object");
    require(m.contains("merges") && m["merges"].is_array(), where, tj, ": field 'model.merges' is missing or not an array");
    if (j.contains("normalizer"))
        require(j["normalizer"].is_null(), where, tj, ": normalizer ", j["normalizer"].dump(), " is not supported (null only)");

    // Pre-tokenizer.
    bpe_vocabulary v;
    {
        const nlohmann::json p = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : nlohmann::json();
        bool ok = false;
        if (is_byte_level(p)) {
            v.pre = pre_tokenizer_kind::gpt2;
            ok = true;
        } else if (p.is_object() && p.value("type", "") == "Sequence" && p.contains("pretokenizers") &&
                   p["pretokenizers"].is_array() && p["pretokenizers"].size() == 2) {
            const auto& d = p["pretokenizers"][0];
            if (d.is_object() && d.value("type", "") == "Digits" && d.value("individual_digits", false) &&
                is_byte_level(p["pretokenizers"][1])) {
                v.pre = pre_tokenizer_kind::digits_then_gpt2;
                ok = true;
            }
        }
        require(ok, where, tj, ": pre_tokenizer ", p.dump(),
                " is not one lethe implements (ByteLevel with use_regex and no prefix space, optionally after "
                "Digits with individual_digits)");
    }

    // Vocabulary: model.vocab, then added_tokens.
    std::size_t n = 0;
    for (const auto& [text, id] : m["vocab"].items()) {
        require(id.is_number_integer() && id.get<std::int64_t>() >= 0 && id.get<std::int64_t>() < (std::int64_t{1} << 31),
                where, tj, ": model.vocab['", text, "'] is not a token id");
        n = std::max(n, static_cast<std::size_t>(id.get<std::int64_t>()) + 1);
    }
    const nlohmann::json added = j.contains("added_tokens") && !j["added_tokens"].is_null() ? j["added_tokens"]
                                                                                             : nlohmann::json::array();
    require(added.is_array(), where, tj, ": field 'added_tokens' is not an array");
    for (std::size_t i = 0; i < added.size(); ++i) {
        const auto& a = added[i];
        require(a.is_object() && a.contains("id") && a["id"].is_number_integer() && a.contains("content") &&
                    a["content"].is_string(),
                where, tj, ": added_tokens[", i, "] lacks an integer 'id' or a string 'content'");
        const auto id = a["id"].get<std::int64_t>();
        require(id >= 0 && id < (std::int64_t{1} << 31), where, tj, ": added_tokens[", i, "].id ", id, " out of range");
        n = std::max(n, static_cast<std::size_t>(id) + 1);
    }
    require(n > 0, where, tj, ": the vocabulary is empty");
    v.tokens.assign(n, std::string());
    v.types.assign(n, token_type::unused);
    std::vector<bool> seen(n, false);
    for (const auto& [text, id] : m["vocab"].items()) {
        const auto i = static_cast<std::size_t>(id.get<std::int64_t>());
        require(!seen[i], where, tj, ": model.vocab gives id ", i, " to two tokens");
        seen[i] = true;
        v.tokens[i] = text;
        v.types[i] = token_type::normal;
    }
    for (const auto& a : added) {
        const auto i = static_cast<std::size_t>(a["id"].get<std::int64_t>());
        const std::string content = a["content"].get<std::string>();
        require(!seen[i] || v.tokens[i] == content, where, tj, ": added token ", i, " '", content,
                "' differs from model.vocab's '", v.tokens[i], "'");
        seen[i] = true;
        v.tokens[i] = content;
        v.types[i] = a.value("special", false) ? token_type::control : token_type::user_defined;
    }
    for (std::size_t i = 0; i < n; ++i)
        if (!seen[i]) v.tokens[i] = "[PAD" + std::to_string(i) + "]";

    // Merges: "a b" strings or [a, b] pairs.
    const auto& merges = m["merges"];
    v.merges.reserve(merges.size());
    for (std::size_t r = 0; r < merges.size(); ++r) {
        const auto& e = merges[r];
        if (e.is_string()) {
            v.merges.push_back(e.get<std::string>());
        } else {
            require(e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string(), where, tj, ": model.merges[",
                    r, "] is neither \"a b\" nor [\"a\", \"b\"]: ", e.dump());
            v.merges.push_back(e[0].get<std::string>() + " " + e[1].get<std::string>());
        }
    }

    // Special tokens and the chat template.
    const auto& c = files.config;
    require(c.is_null() || c.is_object(), where, tc, ": expected a JSON object");
    const auto token_of = [&](const char* key) -> token_id {
        if (c.is_null() || !c.contains(key) || c[key].is_null()) return -1;
        const auto& t = c[key];
        std::string text;
        if (t.is_string()) text = t.get<std::string>();
        else if (t.is_object() && t.contains("content") && t["content"].is_string()) text = t["content"].get<std::string>();
        else fail(where, tc, ": field '", key, "' is neither a string nor {\"content\": ...}: ", t.dump());
        for (std::size_t i = 0; i < n; ++i)
            if (v.tokens[i] == text) return static_cast<token_id>(i);
        fail(where, tc, ": ", key, " '", text, "' is not in the vocabulary");
    };
    const auto id_from_model_config = [&](const char* key) -> token_id {
        const auto& mc = files.model_config;
        if (!mc.is_object() || !mc.contains(key) || !mc[key].is_number_integer()) return -1;
        const auto x = mc[key].get<std::int64_t>();
        require(x >= 0 && static_cast<std::size_t>(x) < n, where, files.source, "/config.json: ", key, " = ", x,
                " outside the vocabulary of ", n);
        return static_cast<token_id>(x);
    };
    v.bos = token_of("bos_token");
    if (v.bos < 0) v.bos = id_from_model_config("bos_token_id");
    v.eos = token_of("eos_token");
    if (v.eos < 0) v.eos = id_from_model_config("eos_token_id");
    v.unk = token_of("unk_token");
    v.pad = token_of("pad_token");
    const auto flag = [&](const char* key) {
        if (c.is_null() || !c.contains(key) || c[key].is_null()) return false;
        require(c[key].is_boolean(), where, tc, ": field '", key, "' must be a boolean");
        return c[key].get<bool>();
    };
    v.add_bos = flag("add_bos_token");
    v.add_eos = flag("add_eos_token");
    if (chat_template_out) {
        chat_template_out->clear();
        if (!c.is_null() && c.contains("chat_template") && !c["chat_template"].is_null()) {
            const auto& t = c["chat_template"];
            if (t.is_string()) {
                *chat_template_out = t.get<std::string>();
            } else {
                require(t.is_array(), where, tc, ": field 'chat_template' is neither a string nor a list");
                for (const auto& e : t)
                    if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
                        *chat_template_out = e["template"].get<std::string>();
                require(!chat_template_out->empty(), where, tc, ": chat_template list has no 'default' entry");
            }
        }
    }
    try {
        return bpe_tokenizer(std::move(v));
    } catch (const error& e) {
        fail(where, tj, ": ", e.what());
    }
}

inline bpe_tokenizer load_hf_tokenizer(const std::filesystem::path& dir, std::string* chat_template_out) {
    constexpr std::string_view where = "lethe::io::load_hf_tokenizer";
    hf_tokenizer_files f;
    f.source = dir.string();
    f.tokenizer = read_json_file(dir / "tokenizer.json", where);
    if (std::filesystem::exists(dir / "tokenizer_config.json"))
        f.config = read_json_file(dir / "tokenizer_config.json", where);
    if (std::filesystem::exists(dir / "config.json")) f.model_config = read_json_file(dir / "config.json", where);
    return bpe_tokenizer_from_hf(f, chat_template_out);
}

inline nlohmann::json hf_tokenizer_json(const bpe_tokenizer& tok) {
    constexpr std::string_view where = "lethe::io::hf_tokenizer_json";
    const auto& v = tok.vocabulary();
    nlohmann::json vocab = nlohmann::json::object();
    nlohmann::json added = nlohmann::json::array();
    for (std::size_t i = 0; i < v.tokens.size(); ++i) {
        const auto& t = v.tokens[i];
        require(!vocab.contains(t), where, "token text '", t, "' appears twice (ids ", vocab.contains(t) ? vocab[t].get<std::int64_t>() : 0,
                " and ", i, "); tokenizer.json maps each text to one id");
        vocab[t] = i;
        const token_type ty = v.types[i];
        if (ty == token_type::control || ty == token_type::user_defined || ty == token_type::unknown)
            added.push_back({{"id", i}, {"content", t}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                             {"normalized", false}, {"special", ty != token_type::user_defined}});
    }
    const nlohmann::json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                                       {"use_regex", true}};
    nlohmann::json pre = byte_level;
    if (v.pre == pre_tokenizer_kind::digits_then_gpt2)
        pre = {{"type", "Sequence"},
               {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level}}};
    return {{"version", "1.0"},
            {"truncation", nullptr},
            {"padding", nullptr},
            {"added_tokens", added},
            {"normalizer", nullptr},
            {"pre_tokenizer", pre},
            {"post_processor", byte_level},
            {"decoder", byte_level},
            {"model",
             {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
              {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
              {"vocab", vocab}, {"merges", v.merges}}}};
}

inline nlohmann::json hf_tokenizer_config_json(const bpe_tokenizer& tok, std::string_view chat_template_text) {
    const auto& v = tok.vocabulary();
    nlohmann::json c = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                        {"clean_up_tokenization_spaces", false},
                        {"add_bos_token", v.add_bos},
                        {"add_eos_token", v.add_eos}};
    const auto put = [&](const char* key, token_id id) {
        c[key] = id >= 0 ? nlohmann::json(v.tokens[static_cast<std::size_t>(id)]) : nlohmann::json(nullptr);
    };
    put("bos_token", v.bos);
    put("eos_token", v.eos);
    put("unk_token", v.unk);
    put("pad_token", v.pad);
    if (!chat_template_text.empty()) c["chat_template"] = std::string(chat_template_text);
    return c;
}

inline void write_hf_tokenizer(const std::filesystem::path& dir, const bpe_tokenizer& tok,
                               std::string_view chat_template_text) {
    std::filesystem::create_directories(dir);
    write_file_atomic(dir / "tokenizer.json", hf_tokenizer_json(tok).dump(1) + "\n");
    write_file_atomic(dir / "tokenizer_config.json", hf_tokenizer_config_json(tok, chat_template_text).dump(2) + "\n");
}

}  // namespace lethe::io

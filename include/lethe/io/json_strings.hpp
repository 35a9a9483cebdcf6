// lethe/io/json_strings.hpp - rewrite the string values of one JSON text and
// keep every other byte: key order, whitespace, number spelling, blank
// space between tokens, and the escapes of every string left unchanged.
//
// A DOM round trip (parse, edit, dump) reorders nothing in nlohmann's
// ordered_json but still compacts whitespace and respells escapes and
// numbers, so a scrubbed JSONL file would no longer diff line by line
// against its input. Here nlohmann's SAX parser only validates the text
// (and says where it is wrong); a small lexer, run on validated text only,
// finds each string literal and splices in the replacement.
//
// Invalid UTF-8 inside a string is not an error: the value is handed over
// with its bad bytes as they are, and a rewritten value keeps them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/utf8.hpp"

namespace lethe::io {

// Where a JSON text is malformed: 1-based column (byte) and the reason.
struct json_syntax_error {
    std::size_t column = 0;
    std::string message;
};

namespace json_strings_detail {

// The reason in a nlohmann parse error, without its "[json.exception...]
// parse error at line 1, column N: " prefix (the caller knows the line).
inline std::string reason_of(const std::string& what) {
    const auto at = what.find("parse error");
    if (at == std::string::npos) return what;
    const auto colon = what.find(": ", at);
    return colon == std::string::npos ? what : what.substr(colon + 2);
}

struct validator final : nlohmann::json_sax<nlohmann::json> {
    std::optional<json_syntax_error> problem;
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return true; }
    bool key(string_t&) override { return true; }
    bool end_object() override { return true; }
    bool start_array(std::size_t) override { return true; }
    bool end_array() override { return true; }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
        problem = json_syntax_error{position, reason_of(e.what())};
        return false;
    }
};

inline unsigned hex4(std::string_view s, std::size_t i) {
    unsigned v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
        const char c = s[i + k];
        v = v * 16 + static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

// The text of a validated string literal's body (between the quotes), RFC
// 8259 section 7 (nlohmann's lexer has already refused lone surrogates).
inline std::string decode(std::string_view body) {
    std::string out;
    out.reserve(body.size());
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] != '\\') { out += body[i]; continue; }
        const char e = body[++i];
        switch (e) {
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp = hex4(body, i + 1);
                i += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {  // validated: a low surrogate escape follows
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(body, i + 3) - 0xDC00);
                    i += 6;
                }
                lethe::append_utf8(out, cp);
                break;
            }
            default: out += e;  // \" \\ and \/
        }
    }
    return out;
}

}  // namespace json_strings_detail

// A NUL byte is never valid in JSON text (RFC 8259: not whitespace, and
// unescaped in no string), but nlohmann's lexer reads it as the end of the
// input and would accept `{"a":1}` followed by anything: refused first.
inline std::optional<json_syntax_error> nul_byte_error(std::string_view text) {
    const auto z = text.find('\0');
    if (z == std::string_view::npos) return std::nullopt;
    return json_syntax_error{z + 1, "NUL byte, not allowed in JSON text"};
}

// Checks that `text` is one JSON value; nullopt when it is. Bad UTF-8 bytes
// count as ordinary characters (each is read as '?').
inline std::optional<json_syntax_error> check_json(std::string_view text) {
    if (auto nul = nul_byte_error(text)) return nul;
    std::string copy;
    std::string_view checked = text;
    if (first_invalid_utf8(text) != text.size()) {
        copy.assign(text);
        std::size_t i = 0, maximal = 0;
        while (i < copy.size()) {
            if (utf8_detail::sequence_at(copy, i, maximal) == 0) copy[i++] = '?';
            else i += maximal;
        }
        checked = copy;
    }
    json_strings_detail::validator v;
    nlohmann::json::sax_parse(checked, &v);
    return v.problem;
}

// `text` as a JSON string literal: quotes, backslash and control characters
// escaped, everything else (UTF-8, bad bytes, '/') as it is.
inline std::string json_string_literal(std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"') out += "\\\"";
        else if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (c == '\b') out += "\\b";
        else if (c == '\f') out += "\\f";
        else if (u < 0x20) { out += "\\u00"; out += hex[u >> 4]; out += hex[u & 15]; }
        else out += c;
    }
    out += '"';
    return out;
}

// Calls edit(std::string& value, std::span<const std::string> keys) for every
// string value of the JSON text (object keys are not values), with `keys`
// the object keys on the way to it, outermost first. When edit returns true
// the value is written back from `value`; every other byte of `text` is kept.
// Throws lethe::error, naming `where` and the column, when `text` is not
// one JSON value.
template <class Edit>
std::string rewrite_json_strings(std::string_view text, Edit&& edit, std::string_view where = "JSON text") {
    if (const auto bad = check_json(text))
        fail("lethe::io::rewrite_json_strings", where, ":", bad->column, ": ", bad->message);
    struct frame {
        bool object;
        bool want_key;  // an object expects a key next (after '{' or ',')
    };
    std::vector<frame> stack;
    std::vector<std::string> keys;  // one per object frame: the key being valued
    std::string out;
    out.reserve(text.size());
    std::size_t copied = 0;  // text[0, copied) is in `out`
    std::string value;
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (c == '{' || c == '[') {
            stack.push_back({c == '{', c == '{'});
            if (c == '{') keys.emplace_back();
            ++i;
        } else if (c == '}' || c == ']') {
            if (stack.back().object) keys.pop_back();
            stack.pop_back();
            ++i;
        } else if (c == ',') {
            if (stack.back().object) stack.back().want_key = true;
            ++i;
        } else if (c == '"') {
            std::size_t j = i + 1;
            while (text[j] != '"') j += text[j] == '\\' ? 2 : 1;
            const std::string_view body = text.substr(i + 1, j - i - 1);
            if (!stack.empty() && stack.back().object && stack.back().want_key) {
                keys.back() = json_strings_detail::decode(body);
                stack.back().want_key = false;
            } else {
                value = json_strings_detail::decode(body);
                if (edit(value, std::span<const std::string>(keys))) {
                    out.append(text.substr(copied, i - copied));
                    out += json_string_literal(value);
                    copied = j + 1;
                }
            }
            i = j + 1;
        } else {
            ++i;  // whitespace, ':', numbers, true, false, null
        }
    }
    out.append(text.substr(copied));
    return out;
}

}  // namespace lethe::io

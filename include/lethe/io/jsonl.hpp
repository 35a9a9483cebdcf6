// lethe/io/jsonl.hpp - JSON Lines: one JSON value per line.
//
// Reading reports every malformed line with its 1-based line number (and,
// for JSON syntax, the column) and either skips it or stops with
// lethe::error, by option. Blank lines are not
// records and not errors. Writing goes through atomic_writer: the file
// appears complete on commit() or not at all.
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "atomic_file.hpp"
#include "json_strings.hpp"

namespace lethe::io {

enum class on_malformed { skip, fail };

struct jsonl_issue {
    std::size_t line = 0;  // 1-based
    std::string message;
};

struct jsonl_read_report {
    std::size_t lines = 0;    // lines read, blank ones included
    std::size_t records = 0;  // records handed to the callback and accepted
    std::vector<jsonl_issue> skipped;  // malformed lines that were skipped
};

struct jsonl_read_options {
    on_malformed malformed = on_malformed::fail;
    std::string source = "<stream>";  // named in messages
};

// Calls on_record(json&& value, std::size_t line) for every line holding a
// JSON value. A line that does not parse, or whose callback throws
// lethe::error or a nlohmann::json exception (a field of the wrong type), is
// malformed: skipped and reported, or fatal, by `options.malformed`.
template <class OnRecord>
jsonl_read_report read_jsonl(std::istream& in, OnRecord&& on_record, const jsonl_read_options& options = {}) {
    jsonl_read_report report;
    std::string line;
    while (std::getline(in, line)) {
        ++report.lines;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        std::string problem;
        try {
            if (const auto nul = nul_byte_error(line)) throw error(std::to_string(nul->column) + ": " + nul->message);
            on_record(nlohmann::json::parse(line), report.lines);
            ++report.records;
            continue;
        } catch (const nlohmann::json::parse_error& e) {
            // "LINE:COLUMN: reason", not nlohmann's "at line 1" of the one-line text.
            problem = std::to_string(e.byte) + ": " + json_strings_detail::reason_of(e.what());
        } catch (const nlohmann::json::exception& e) {
            problem = e.what();
        } catch (const error& e) {
            problem = e.what();
        }
        if (options.malformed == on_malformed::fail)
            fail("lethe::io::read_jsonl", options.source, ":", report.lines, ": ", problem);
        report.skipped.push_back({report.lines, std::move(problem)});
    }
    require(!in.bad(), "lethe::io::read_jsonl", options.source, ": read error after line ", report.lines);
    return report;
}

template <class OnRecord>
jsonl_read_report read_jsonl_file(const std::filesystem::path& path, OnRecord&& on_record, jsonl_read_options options = {}) {
    std::ifstream in(path, std::ios::binary);
    require(in.good(), "lethe::io::read_jsonl_file", "cannot open '", path.string(), "'");
    if (options.source == "<stream>") options.source = path.string();
    return read_jsonl(in, std::forward<OnRecord>(on_record), options);
}

// Writes one compact JSON value per line to a temporary file and renames it
// over `path` on commit(); destroyed without commit(), it leaves `path` as it was.
class jsonl_writer {
public:
    explicit jsonl_writer(const std::filesystem::path& path) : out_(path) {}
    void write(const nlohmann::json& value) {
        std::string s = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
        s += '\n';
        out_.write(s);
        ++records_;
    }
    std::size_t records() const noexcept { return records_; }
    void commit() { out_.commit(); }

private:
    atomic_writer out_;
    std::size_t records_ = 0;
};

}  // namespace lethe::io

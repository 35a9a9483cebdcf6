// tests/fuzz/fuzz_jsonl.hpp - JSON Lines (lethe/io/jsonl.hpp) as the pair
// builder reads them: every line through read_jsonl, each record through
// dialog_from_json and pair_builder::add. The first byte picks skip or fail
// on malformed lines, the template and whether a generator answers.
#pragma once

#include <lethe/io/jsonl.hpp>
#include <lethe/privacy/pair_builder.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

namespace lethe_fuzz {

inline int fuzz_jsonl(const std::uint8_t* data, std::size_t size) {
    using namespace lethe;
    input in(data, size);
    const std::uint8_t mode = in.byte();
    const std::string text(in.rest());
    return reject_cleanly([&] {
        privacy::pair_builder_options opt;
        opt.chat_template = io::chat_template((mode & 2) ? io::chat_format::llama3 : io::chat_format::chatml);
        opt.cfg_doubling = (mode & 4) != 0;
        opt.test_fraction = 0.5;
        privacy::pair_builder builder(opt);
        if (mode & 8)
            builder.set_generator([&](const privacy::generation_request& r) -> std::optional<std::string> {
                if (r.original_continuation.size() % 3 == 0) return std::nullopt;
                return std::string("I cannot share that.");
            });
        std::vector<privacy::pair_sample> train, test;
        std::size_t lines_seen = 0, records = 0;
        std::istringstream is(text);
        io::jsonl_read_options o;
        o.malformed = (mode & 1) ? io::on_malformed::skip : io::on_malformed::fail;
        o.source = "<fuzz>";
        const auto report = io::read_jsonl(
            is,
            [&](nlohmann::json&& j, std::size_t line) {
                LETHE_FUZZ_CHECK(line > lines_seen, "line numbers increase");
                lines_seen = line;
                const privacy::dialog d = privacy::dialog_from_json(j, line);
                train.clear();
                test.clear();
                builder.add(d, train, test);
                // What build_preference_pairs writes: JSON (valid UTF-8) from valid input.
                for (const auto* part : {&train, &test})
                    for (const auto& s : *part) {
                        try {
                            (void)s.to_json(true).dump();
                        } catch (const nlohmann::json::type_error& e) {
                            LETHE_FUZZ_CHECK(false, std::string("a pair is not valid UTF-8: ") + e.what());
                        }
                    }
                ++records;
            },
            o);
        LETHE_FUZZ_CHECK(report.records == records, "records counted");
        LETHE_FUZZ_CHECK(report.records + report.skipped.size() <= report.lines, "records + skipped <= lines");
        std::size_t newlines = 0;
        for (char c : text) newlines += c == '\n';
        LETHE_FUZZ_CHECK(report.lines == newlines + (!text.empty() && text.back() != '\n'), "every line counted");
        for (const auto& s : report.skipped) LETHE_FUZZ_CHECK(s.line >= 1 && s.line <= report.lines, s.message);
    });
}

}  // namespace lethe_fuzz

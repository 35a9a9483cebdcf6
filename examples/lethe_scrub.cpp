// lethe-scrub: find and replace personal data in text or JSONL.
//
//   lethe-scrub [options] [FILE...]        (no FILE or '-': standard input)
//
// Text input is one document per file (or per line with --line-documents);
// JSONL input is one document per line, and every string value (or only
// those under --field keys) is scrubbed in place: output line k is input
// line k with its values rewritten, keys, order and spacing untouched.
// Output goes to standard output or, atomically, to --output, and only when
// every input was read: a malformed line (with --on-malformed fail) leaves
// nothing written. A per-type count report goes to standard error.
#include <lethe/io/atomic_file.hpp>
#include <lethe/io/json_strings.hpp>
#include <lethe/io/jsonl.hpp>
#include <lethe/privacy.hpp>
#if defined(LETHE_HAS_OPENSSL)
#include <lethe/privacy/keyed_hash.hpp>
#endif

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace lp = lethe::privacy;

namespace {

const char* usage =
    "usage: lethe-scrub [options] [FILE...]\n"
    "Finds personal data (EMAIL, PHONE, US_SSN, CREDIT_CARD, IBAN, IPV4, IPV6, URL, DATE,\n"
    "PERSON, LOCATION, ADDRESS) in text or JSONL and replaces it. Reads FILEs or standard input ('-').\n"
    "\n"
    "input/output:\n"
    "  --format text|jsonl        input format (default: jsonl for *.jsonl files, else text)\n"
    "  --field KEY                jsonl: scrub only string values under KEY (repeatable; default all)\n"
    "  --line-documents           text: every line is its own document (numbering restarts)\n"
    "  --on-malformed skip|fail   jsonl: a line that is not JSON fails the run, writing nothing\n"
    "                             (default fail), or is reported and written as an empty line\n"
    "  -o, --output FILE          write here (atomically) instead of standard output\n"
    "  --spans                    print the spans found (JSONL) instead of replacing them\n"
    "  --no-report                no per-type count report on standard error\n"
    "policy:\n"
    "  --policy FILE              JSON replacement policy (see docs/privacy.md)\n"
    "  --operator OP              operator for every type: placeholder (default), numbered,\n"
    "                             redact, mask, hash, pseudonym, refuse, keep\n"
    "  --set TYPE=OP              operator for one type, e.g. --set EMAIL=mask (repeatable)\n"
    "  --keep-last K              mask: characters left visible (default 4)\n"
    "  --seed N                   pseudonym seed (default 0)\n"
    "  --scope document|dataset   pseudonym consistency (default document)\n"
    "  --hash-key-env VAR         key for the hash operator, from environment variable VAR\n"
    "detection:\n"
    "  --types T1,T2,...          entity types to detect (default: all)\n"
    "  --min-confidence X         drop spans below X (default 0.5)\n"
    "  --no-context-names         PERSON/LOCATION only from the gazetteers\n"
    "  --gazetteer KIND=FILE      add entries; KIND is first_names, last_names or locations\n"
    "  -h, --help                 this text\n";

[[noreturn]] void bad(const std::string& msg) {
    std::fprintf(stderr, "lethe-scrub: %s (try --help)\n", msg.c_str());
    std::exit(2);
}

struct settings {
    std::optional<std::string> format;
    std::set<std::string> fields;
    bool line_documents = false;
    lethe::io::on_malformed malformed = lethe::io::on_malformed::fail;
    std::optional<std::string> output;
    bool spans_only = false;
    bool report = true;
    std::vector<std::string> inputs;
};

nlohmann::json spans_json(std::string_view text, const std::vector<lp::entity_span>& spans) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& s : spans)
        arr.push_back({{"begin", s.begin}, {"end", s.end}, {"type", lp::name_of(s.type)}, {"confidence", s.confidence},
                       {"text", std::string(s.text(text))}});
    return arr;
}

}  // namespace

int main(int argc, char** argv) {
    settings cfg;
    std::optional<lp::replacement_policy> policy;
    std::optional<lp::operator_kind> all_op;
    std::vector<std::pair<lp::entity_type, lp::operator_kind>> per_type;
    std::optional<int> keep_last;
    std::optional<std::uint64_t> seed;
    std::optional<lp::consistency_scope> scope;
    std::optional<std::string> hash_env;
    lp::scanner_options sopt;
    auto lists = std::make_shared<lp::gazetteers>(*lp::gazetteers::defaults());

    try {
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            auto value = [&]() -> std::string {
                if (i + 1 >= argc) bad("option " + a + " needs a value");
                return argv[++i];
            };
            if (a == "-h" || a == "--help") { std::fputs(usage, stdout); return 0; }
            else if (a == "--format") {
                cfg.format = value();
                if (*cfg.format != "text" && *cfg.format != "jsonl") bad("--format must be text or jsonl");
            } else if (a == "--field") cfg.fields.insert(value());
            else if (a == "--line-documents") cfg.line_documents = true;
            else if (a == "--on-malformed") {
                const auto v = value();
                if (v != "skip" && v != "fail") bad("--on-malformed must be skip or fail");
                cfg.malformed = v == "skip" ? lethe::io::on_malformed::skip : lethe::io::on_malformed::fail;
            } else if (a == "-o" || a == "--output") cfg.output = value();
            else if (a == "--spans") cfg.spans_only = true;
            else if (a == "--no-report") cfg.report = false;
            else if (a == "--policy") {
                const auto path = value();
                std::ifstream in(path);
                if (!in) bad("cannot open policy file '" + path + "'");
                nlohmann::json j;
                try { in >> j; } catch (const nlohmann::json::exception& e) { bad("policy file '" + path + "': " + e.what()); }
                policy = lp::policy_from_json(j);
            } else if (a == "--operator") all_op = lp::operator_kind_from_name(value(), "--operator");
            else if (a == "--set") {
                const auto v = value();
                const auto eq = v.find('=');
                if (eq == std::string::npos) bad("--set expects TYPE=OP, got '" + v + "'");
                const auto t = lp::entity_type_from_name(v.substr(0, eq));
                if (!t) bad("--set: unknown entity type '" + v.substr(0, eq) + "'");
                per_type.emplace_back(*t, lp::operator_kind_from_name(v.substr(eq + 1), "--set"));
            } else if (a == "--keep-last") {
                const auto v = value();
                char* end = nullptr;
                const long k = std::strtol(v.c_str(), &end, 10);
                if (*end || k < 0 || k > 1000) bad("--keep-last must be an integer 0..1000");
                keep_last = static_cast<int>(k);
            } else if (a == "--seed") {
                const auto v = value();
                char* end = nullptr;
                seed = std::strtoull(v.c_str(), &end, 10);
                if (v.empty() || *end) bad("--seed must be a non-negative integer");
            } else if (a == "--scope") {
                const auto v = value();
                if (v != "document" && v != "dataset") bad("--scope must be document or dataset");
                scope = v == "document" ? lp::consistency_scope::document : lp::consistency_scope::dataset;
            } else if (a == "--hash-key-env") hash_env = value();
            else if (a == "--types") {
                const auto v = value();
                lp::entity_set set;
                std::stringstream ss(v);
                std::string name;
                while (std::getline(ss, name, ',')) {
                    const auto t = lp::entity_type_from_name(name);
                    if (!t) bad("--types: unknown entity type '" + name + "'");
                    set = set.with(*t);
                }
                sopt.types = set.with(lp::entity_type::placeholder);
            } else if (a == "--min-confidence") {
                const auto v = value();
                char* end = nullptr;
                sopt.min_confidence = std::strtof(v.c_str(), &end);
                if (v.empty() || *end || sopt.min_confidence < 0 || sopt.min_confidence > 1) bad("--min-confidence must be in [0, 1]");
            } else if (a == "--no-context-names") sopt.context_names = false;
            else if (a == "--gazetteer") {
                const auto v = value();
                const auto eq = v.find('=');
                const std::string kind = v.substr(0, eq);
                if (eq == std::string::npos) bad("--gazetteer expects KIND=FILE");
                lp::gazetteer* g = kind == "first_names" ? &lists->first_names
                                   : kind == "last_names" ? &lists->last_names
                                   : kind == "locations"  ? &lists->locations
                                                          : nullptr;
                if (!g) bad("--gazetteer: KIND must be first_names, last_names or locations");
                g->load_file(v.substr(eq + 1));
            } else if (a.size() > 1 && a[0] == '-' && a != "-") bad("unknown option '" + a + "'");
            else cfg.inputs.push_back(a);
        }
        if (cfg.inputs.empty()) cfg.inputs.push_back("-");

        lp::replacement_policy p = policy.value_or(lp::replacement_policy{});
        if (all_op)
            for (std::size_t t = 0; t < lp::entity_type_count; ++t)
                if (static_cast<lp::entity_type>(t) != lp::entity_type::placeholder) p.per_type[t].kind = *all_op;
        for (const auto& [t, op] : per_type) p[t].kind = op;
        if (keep_last) for (auto& op : p.per_type) op.keep_last = *keep_last;
        if (seed) p.seed = *seed;
        if (scope) p.scope = *scope;
        bool needs_hash = false;
        for (const auto& op : p.per_type) needs_hash = needs_hash || op.kind == lp::operator_kind::keyed_hash;
        if (needs_hash) {
#if defined(LETHE_HAS_OPENSSL)
            if (!hash_env) bad("the hash operator needs --hash-key-env VAR");
            const char* key = std::getenv(hash_env->c_str());
            if (!key || !*key) bad("environment variable " + *hash_env + " is empty or unset");
            lp::install_keyed_hash(p, key);
#else
            bad("this build has no OpenSSL: the hash operator is unavailable");
#endif
        }
        lp::anonymizer anon(p, lp::scanner(sopt, lists));

        // Output is written only once every input has been read: to a
        // temporary file renamed on success (--output), or held in memory
        // and printed at the end, so a failure leaves nothing behind.
        std::unique_ptr<lethe::io::atomic_writer> file_out;
        if (cfg.output) file_out = std::make_unique<lethe::io::atomic_writer>(*cfg.output);
        std::ostringstream held;
        std::ostream& sink = file_out ? static_cast<std::ostream&>(file_out->stream()) : held;
        // --spans: what was found, per type (the anonymizer counts replacements).
        std::array<std::size_t, lp::entity_type_count> found_counts{};
        const auto count_spans = [&](const std::vector<lp::entity_span>& found) {
            for (const auto& sp : found) ++found_counts[static_cast<std::size_t>(sp.type)];
        };

        std::vector<lp::entity_span> spans;
        std::string replaced;
        std::size_t documents = 0, invalid_utf8 = 0, malformed = 0;
        for (const auto& path : cfg.inputs) {
            std::ifstream fin;
            if (path != "-") {
                fin.open(path, std::ios::binary);
                if (!fin) bad("cannot open '" + path + "'");
            }
            std::istream& in = path == "-" ? std::cin : fin;
            const std::string source = path == "-" ? "<stdin>" : path;
            const bool jsonl = cfg.format ? *cfg.format == "jsonl" : (path.size() > 6 && path.substr(path.size() - 6) == ".jsonl");
            if (jsonl) {
                // One output line per input line: string values rewritten in
                // place (io/json_strings.hpp), keys, order, spacing, blank
                // lines and a missing final newline kept as they are.
                std::string line;
                std::size_t n = 0;
                while (std::getline(in, line)) {
                    ++n;
                    const bool newline = !in.eof();
                    const bool cr = !line.empty() && line.back() == '\r';
                    const std::string_view body(line.data(), line.size() - cr);
                    const std::string eol = std::string(cr ? "\r" : "") + (newline ? "\n" : "");
                    if (body.find_first_not_of(" \t") == std::string_view::npos) {
                        sink << line << (newline ? "\n" : "");
                        continue;
                    }
                    const std::string where = source + ":" + std::to_string(n);
                    if (const auto bad_json = lethe::io::check_json(body)) {
                        const std::string msg = where + ":" + std::to_string(bad_json->column) + ": " + bad_json->message;
                        if (cfg.malformed == lethe::io::on_malformed::fail)
                            throw lethe::error(msg + " (nothing written; --on-malformed skip writes an empty line instead)");
                        // Skipped: an empty line keeps output line k at input line k.
                        std::fprintf(stderr, "lethe-scrub: %s: skipped\n", msg.c_str());
                        ++malformed;
                        sink << eol;
                        continue;
                    }
                    anon.begin_document();
                    ++documents;
                    bool bad_utf8 = false;
                    nlohmann::json found = nlohmann::json::array();
                    const auto edit = [&](std::string& v, std::span<const std::string> keys) {
                        bool selected = cfg.fields.empty();
                        for (const auto& k : keys) selected = selected || cfg.fields.count(k);
                        if (!selected) return false;
                        bad_utf8 = bad_utf8 || lp::first_invalid_utf8(v) != v.size();
                        anon.detector().scan(v, spans);
                        if (cfg.spans_only) {
                            for (auto& e : spans_json(v, spans)) {
                                e["key"] = keys.empty() ? std::string() : keys.back();
                                found.push_back(std::move(e));
                            }
                            count_spans(spans);
                            return false;
                        }
                        if (spans.empty()) return false;
                        anon.apply(v, spans, replaced);
                        v = replaced;
                        return true;
                    };
                    const std::string rewritten = lethe::io::rewrite_json_strings(body, edit, where);
                    if (bad_utf8) {
                        ++invalid_utf8;
                        std::fprintf(stderr, "lethe-scrub: %s: invalid UTF-8 in a string (scanned on both sides, bytes passed through)\n",
                                     where.c_str());
                    }
                    if (cfg.spans_only) sink << found.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << eol;
                    else sink << rewritten << eol;
                }
                lethe::require(!in.bad(), "lethe-scrub", source, ": read error after line ", n);
            } else {
                auto one = [&](const std::string& doc, std::size_t line) {
                    anon.begin_document();
                    ++documents;
                    if (const auto bad_at = lp::first_invalid_utf8(doc); bad_at != doc.size()) {
                        ++invalid_utf8;
                        std::fprintf(stderr, "lethe-scrub: %s:%s byte %zu: invalid UTF-8 (passed through unchanged)\n", path.c_str(),
                                     line ? (std::to_string(line) + ":").c_str() : "", bad_at);
                    }
                    anon.detector().scan(doc, spans);
                    if (cfg.spans_only) {
                        count_spans(spans);
                        sink << spans_json(doc, spans).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
                        return;
                    }
                    anon.apply(doc, spans, replaced);
                    sink << replaced;
                };
                if (cfg.line_documents) {
                    std::string line;
                    std::size_t n = 0;
                    while (std::getline(in, line)) {
                        one(line, ++n);
                        if (!cfg.spans_only) sink << '\n';
                    }
                } else {
                    std::ostringstream ss;
                    ss << in.rdbuf();
                    one(ss.str(), 0);
                }
            }
        }
        if (file_out) file_out->commit();
        else std::cout << held.str() << std::flush;
        if (cfg.report) {
            std::fprintf(stderr, "lethe-scrub: %zu document(s)", documents);
            if (malformed) std::fprintf(stderr, ", %zu malformed line(s) skipped", malformed);
            if (invalid_utf8) std::fprintf(stderr, ", %zu with invalid UTF-8", invalid_utf8);
            std::fprintf(stderr, "\n%-12s %10s\n", "type", cfg.spans_only ? "found" : "replaced");
            std::size_t total = 0;
            const auto& counts = cfg.spans_only ? found_counts : anon.counts();
            for (std::size_t t = 0; t < lp::entity_type_count; ++t) {
                if (!counts[t]) continue;
                std::fprintf(stderr, "%-12s %10zu\n", std::string(lp::name_of(static_cast<lp::entity_type>(t))).c_str(), counts[t]);
                total += counts[t];
            }
            std::fprintf(stderr, "%-12s %10zu\n", "total", total);
            if (anon.refused_documents()) std::fprintf(stderr, "refused      %10zu\n", anon.refused_documents());
        }
        return 0;
    } catch (const lethe::error& e) {
        std::fprintf(stderr, "lethe-scrub: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lethe-scrub: %s\n", e.what());
        return 1;
    }
}

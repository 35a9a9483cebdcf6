// synthetic-dialogs: writes a seeded synthetic world's support dialogs (fictional
// people with names, e-mails, phones, addresses, ID numbers, birth dates) as
// the dialogs JSONL lethe-unlearn reads, to try the tool without data of your
// own: {"id", "messages": [{role, content}...], "pii": {"NAME-1": "..."}} per
// line, the messages holding the placeholders (the LLM Privacy Challenge's
// shape). With --plain the values are written into the text instead and
// "pii" is left out, as real chat logs come: lethe's scanner then finds them.
//   synthetic-dialogs [--people N] [--seed N] [--plain] --out FILE
#include <lethe/io/jsonl.hpp>
#include <lethe/recipe/synthetic_world.hpp>

#include "support/cli.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

const char* const usage =
    "usage: synthetic-dialogs [--people N] [--seed N] [--plain] --out FILE\n"
    "\n"
    "Writes a seeded synthetic world's support dialogs (fictional personal data) as\n"
    "lethe-unlearn's dialogs JSONL.\n"
    "  --people N  dialogs, 1..400 (default 40)\n"
    "  --seed N    seed of the world (default 1)\n"
    "  --plain     values in the text, no \"pii\" map (the scanner must find them)\n"
    "  --out FILE  where to write (atomically)\n";

[[noreturn]] void bad_argument(const std::string& msg) {
    std::fprintf(stderr, "synthetic-dialogs: %s\n(run synthetic-dialogs --help for the options)\n", msg.c_str());
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    long long people = 40, seed = 1;
    bool plain = false;
    std::string out;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) bad_argument(a + " needs a value");
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            std::fputs(usage, stdout);
            return 0;
        } else if (a == "--people") {
            people = lethe_examples::parse_number<long long>(a, value(), bad_argument);
            if (people < 1 || people > 400) bad_argument("--people must be in [1, 400]");
        } else if (a == "--seed") {
            seed = lethe_examples::parse_number<long long>(a, value(), bad_argument);
        } else if (a == "--plain") {
            plain = true;
        } else if (a == "--out") {
            out = value();
        } else {
            bad_argument("unknown argument '" + a + "'");
        }
    }
    if (out.empty()) bad_argument("--out is required");
    try {
        lethe::recipe::world_config wc;
        wc.people = people;
        wc.seed = static_cast<std::uint64_t>(seed);
        const auto w = lethe::recipe::make_synthetic_world(wc);
        lethe::io::jsonl_writer jw(out);
        for (const auto& d : w.dialogs) {
            nlohmann::json msgs = nlohmann::json::array();
            for (const auto& t : d.turns) {
                std::string text = t.text;
                if (plain)
                    for (const auto& v : d.values)
                        for (auto at = text.find(v.placeholder); at != std::string::npos; at = text.find(v.placeholder, at))
                            text.replace(at, v.placeholder.size(), v.value);
                msgs.push_back({{"role", std::string(lethe::eval::role_name(t.who))}, {"content", text}});
            }
            nlohmann::json j = {{"id", d.id}, {"messages", msgs}};
            if (!plain) {
                nlohmann::json pii = nlohmann::json::object();
                for (const auto& v : d.values) pii[v.placeholder.substr(1, v.placeholder.size() - 2)] = v.value;
                j["pii"] = pii;
            }
            jw.write(j);
        }
        jw.commit();
        std::printf("wrote %zu dialogs to %s\n", w.dialogs.size(), out.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "synthetic-dialogs: %s\n", e.what());
        return 1;
    }
    return 0;
}

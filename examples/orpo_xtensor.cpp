// orpo-xtensor: preference losses on xtensor arrays. Reads nothing; builds a
// random batch of P pairs (logits [2P, T, V] as xt::xtensor<float, 3>) and
// prints, for the chosen loss, the value, TRL's metrics and the gradient's
// norm. Pairs are laid out as chosen rows then rejected rows, or interleaved.
//
//   orpo-xtensor [--loss orpo|dpo|ipo|simpo|cpo] [--layout blocks|interleaved]
//                [--pairs P] [--len T] [--vocab V] [--beta B]
#include <lethe/backend/xtensor.hpp>
#include <lethe/loss.hpp>

#include <xtensor/xrandom.hpp>
#include <xtensor/xtensor.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

const char* usage =
    "usage: orpo-xtensor [--loss orpo|dpo|ipo|simpo|cpo] [--layout blocks|interleaved]\n"
    "                    [--pairs P] [--len T] [--vocab V] [--beta B]\n"
    "  A preference loss on random xtensor logits; prints loss, TRL metrics, |dlogits|.\n"
    "  DPO and IPO use reference log-probs from a second, perturbed set of logits.\n"
    "  Defaults: --loss orpo --layout blocks --pairs 2 --len 32 --vocab 1000 --beta 0.1\n";

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "orpo-xtensor: %s\n%s", msg.c_str(), usage);
    std::exit(2);
}

long to_long(const std::string& flag, const char* s, long lo, long hi) {
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (!end || *end != '\0' || end == s || v < lo || v > hi)
        die(flag + " expects an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + s + "'");
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    namespace loss = lethe::loss;
    std::string kind = "orpo", layout = "blocks";
    long pairs = 2, len = 32, vocab = 1000;
    double beta = 0.1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(usage, stdout);
            return 0;
        }
        if (i + 1 >= argc) die("missing value after '" + a + "'");
        const char* v = argv[++i];
        if (a == "--loss") kind = v;
        else if (a == "--layout") layout = v;
        else if (a == "--pairs") pairs = to_long(a, v, 1, 4096);
        else if (a == "--len") len = to_long(a, v, 2, 65536);
        else if (a == "--vocab") vocab = to_long(a, v, 2, 1 << 20);
        else if (a == "--beta") {
            char* end = nullptr;
            beta = std::strtod(v, &end);
            if (!end || *end != '\0' || !(beta > 0)) die(std::string("--beta expects a number > 0, got '") + v + "'");
        } else die("unknown argument '" + a + "'");
    }
    loss::preference_config cfg;
    if (kind == "orpo") cfg = loss::preference_config::orpo(beta);
    else if (kind == "dpo") cfg = loss::preference_config::dpo(beta);
    else if (kind == "ipo") cfg = loss::preference_config::ipo(beta);
    else if (kind == "simpo") cfg = loss::preference_config::simpo(beta);
    else if (kind == "cpo") cfg = loss::preference_config::cpo(beta);
    else die("--loss must be orpo, dpo, ipo, simpo or cpo, got '" + kind + "'");
    if (layout == "interleaved") cfg.layout = loss::pair_layout::interleaved;
    else if (layout != "blocks") die("--layout must be blocks or interleaved, got '" + layout + "'");

    const std::size_t rows = static_cast<std::size_t>(2 * pairs), t = static_cast<std::size_t>(len),
                      v = static_cast<std::size_t>(vocab);
    xt::random::seed(7);
    xt::xtensor<float, 3> logits = xt::random::randn<float>({rows, t, v}, 0.0f, 2.0f);
    xt::xtensor<float, 3> ref_logits = logits + xt::random::randn<float>({rows, t, v}, 0.0f, 0.1f);
    xt::xtensor<std::int32_t, 2> targets = xt::random::randint<std::int32_t>({rows, t}, 0, static_cast<std::int32_t>(vocab));
    xt::xtensor<std::uint8_t, 2> mask({rows, t}, loss::token_kind::completion);
    for (std::size_t r = 0; r < rows; ++r) mask(r, 0) = mask(r, 1) = loss::token_kind::prompt;
    xt::xtensor<float, 3> dlogits({rows, t, v});
    try {
        const auto n = static_cast<lethe::index_t>(rows * t);
        loss::host_loss_workspace<float> ws(n, static_cast<lethe::index_t>(rows));
        // Reference log-probs: completion sums under the reference logits.
        xt::xtensor<float, 1> ref = xt::zeros<float>({rows});
        const auto rb = loss::make_token_batch(lethe::view_of(ref_logits), lethe::view_of(std::as_const(targets)),
                                               lethe::view_of(std::as_const(mask)));
        loss::sequence_logprobs(lethe::par, rb, ws.view());
        for (std::size_t r = 0; r < rows; ++r) ref(r) = ws.view().stats.completion_sum(static_cast<lethe::index_t>(r));

        const auto b = loss::make_token_batch(lethe::view_of(logits), lethe::view_of(std::as_const(targets)),
                                              lethe::view_of(std::as_const(mask)));
        const auto res = loss::preference_loss(lethe::par, b, ws.view(), lethe::view_of(dlogits).flatten_rows(), cfg,
                                               lethe::view1<const float>(lethe::view_of(ref)));
        std::printf("%s (%s layout, %ld pairs x %ld tokens x V=%ld): loss %.6f\n", kind.c_str(), layout.c_str(), pairs,
                    len, vocab, res.loss);
        for (const auto& [name, value] : res.metrics.named()) std::printf("  %-20s %.6f\n", name.c_str(), value);
        double norm = 0;
        for (float g : dlogits) norm += static_cast<double>(g) * g;
        std::printf("  |dloss/dlogits|      %.6g\n", std::sqrt(norm));
    } catch (const lethe::error& e) {
        std::fprintf(stderr, "orpo-xtensor: %s\n", e.what());
        return 1;
    }
    return 0;
}

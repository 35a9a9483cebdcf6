// train-tiny: trains a small Llama on a text file (byte-level tokens) with
// lethe's reference transformer, printing progress and writing a loss curve
// (SVG), a CSV log and a JSON summary, then samples a few bytes greedily.
//
//   train-tiny --data corpus.txt [--steps 200] [--batch 8] [--seq 64]
//              [--d-model 128] [--layers 4] [--heads 4] [--kv-heads 2]
//              [--lr 3e-3] [--warmup 20] [--threads N] [--seed 1]
//              [--out train-tiny-out] [--save DIR]
#include <lethe/model.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace lm = lethe::model;
using lethe::index_t;
using lethe::token_id;

namespace {

struct options {
    std::string data, out = "train-tiny-out", save;
    index_t steps = 200, batch = 8, seq = 64, d_model = 128, layers = 4, heads = 4, kv_heads = 2;
    double lr = 3e-3;
    index_t warmup = 20;
    int threads = 0;
    std::uint64_t seed = 1;
};

void usage(std::ostream& os) {
    os << "usage: train-tiny --data FILE [options]\n"
          "Trains a byte-level Llama (vocab 256) on FILE with AdamW and a cosine schedule\n"
          "(warmup, floor at 10% of the peak rate), printing step, loss, tokens/s and ETA.\n"
          "Writes OUT/loss.svg, OUT/log.csv and OUT/summary.json.\n\n"
          "  --data FILE       training text (at least seq+1 bytes)\n"
          "  --steps N         optimizer steps (default 200)\n"
          "  --batch N         sequences per step (default 8)\n"
          "  --seq N           tokens per sequence (default 64)\n"
          "  --d-model N       hidden size (default 128)\n"
          "  --layers N        decoder layers (default 4)\n"
          "  --heads N         attention heads (default 4)\n"
          "  --kv-heads N      key/value heads, divides --heads (default 2)\n"
          "  --lr X            peak learning rate (default 3e-3)\n"
          "  --warmup N        warmup steps (default 20)\n"
          "  --threads N       OpenMP threads (default: all)\n"
          "  --seed N          initialisation and data seed (default 1)\n"
          "  --out DIR         output directory (default train-tiny-out)\n"
          "  --save DIR        also save the model (config.json + model.safetensors)\n"
          "  --help            this text\n";
}

template <class T>
T parse_number(const std::string& flag, const std::string& text) {
    std::istringstream is(text);
    T v{};
    is >> v;
    if (!is || !is.eof()) throw lethe::error("train-tiny: " + flag + ": '" + text + "' is not a valid number");
    return v;
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            usage(std::cout);
            std::exit(0);
        }
        if (i + 1 >= argc) throw lethe::error("train-tiny: " + a + " needs a value (or unknown flag; see --help)");
        const std::string v = argv[++i];
        if (a == "--data") o.data = v;
        else if (a == "--out") o.out = v;
        else if (a == "--save") o.save = v;
        else if (a == "--steps") o.steps = parse_number<index_t>(a, v);
        else if (a == "--batch") o.batch = parse_number<index_t>(a, v);
        else if (a == "--seq") o.seq = parse_number<index_t>(a, v);
        else if (a == "--d-model") o.d_model = parse_number<index_t>(a, v);
        else if (a == "--layers") o.layers = parse_number<index_t>(a, v);
        else if (a == "--heads") o.heads = parse_number<index_t>(a, v);
        else if (a == "--kv-heads") o.kv_heads = parse_number<index_t>(a, v);
        else if (a == "--lr") o.lr = parse_number<double>(a, v);
        else if (a == "--warmup") o.warmup = parse_number<index_t>(a, v);
        else if (a == "--threads") o.threads = parse_number<int>(a, v);
        else if (a == "--seed") o.seed = parse_number<std::uint64_t>(a, v);
        else throw lethe::error("train-tiny: unknown flag '" + a + "' (see --help)");
    }
    if (o.data.empty()) throw lethe::error("train-tiny: --data FILE is required (see --help)");
    if (o.steps <= 0 || o.batch <= 0 || o.seq <= 1) throw lethe::error("train-tiny: --steps, --batch must be > 0 and --seq > 1");
    if (o.lr <= 0) throw lethe::error("train-tiny: --lr must be positive");
    if (o.warmup < 0 || o.warmup > o.steps) throw lethe::error("train-tiny: --warmup must be in [0, --steps]");
    if (o.threads < 0) throw lethe::error("train-tiny: --threads must be >= 0");
    return o;
}

std::string loss_svg(const std::vector<double>& loss) {
    const double w = 640, h = 360, pad = 40;
    double lo = loss[0], hi = loss[0];
    for (double l : loss) lo = std::min(lo, l), hi = std::max(hi, l);
    if (hi - lo < 1e-9) hi = lo + 1;
    std::ostringstream s;
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h << "\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << pad << "\" y=\"20\" font-family=\"sans-serif\" font-size=\"14\">training loss (nats/token), "
      << loss.size() << " steps</text>\n"
      << "<line x1=\"" << pad << "\" y1=\"" << h - pad << "\" x2=\"" << w - 10 << "\" y2=\"" << h - pad
      << "\" stroke=\"black\"/><line x1=\"" << pad << "\" y1=\"30\" x2=\"" << pad << "\" y2=\"" << h - pad
      << "\" stroke=\"black\"/>\n"
      << "<text x=\"2\" y=\"40\" font-size=\"11\">" << hi << "</text><text x=\"2\" y=\"" << h - pad
      << "\" font-size=\"11\">" << lo << "</text>\n<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"";
    for (std::size_t i = 0; i < loss.size(); ++i) {
        const double x = pad + (w - pad - 10) * double(i) / double(std::max<std::size_t>(1, loss.size() - 1));
        const double y = 30 + (h - pad - 30) * (hi - loss[i]) / (hi - lo);
        s << x << "," << y << " ";
    }
    s << "\"/>\n</svg>\n";
    return s.str();
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const options o = parse(argc, argv);
        std::ifstream in(o.data, std::ios::binary);
        if (!in) throw lethe::error("train-tiny: cannot open --data '" + o.data + "'");
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (index_t(text.size()) < o.seq + 1)
            throw lethe::error("train-tiny: " + o.data + " has " + std::to_string(text.size()) + " bytes, need at least --seq + 1 = " +
                               std::to_string(o.seq + 1));

        lm::llama_config cfg;
        cfg.vocab = 256;
        cfg.d_model = o.d_model;
        cfg.n_layers = o.layers;
        cfg.n_heads = o.heads;
        cfg.n_kv_heads = o.kv_heads;
        cfg.d_ff = (8 * o.d_model / 3 + 63) / 64 * 64;  // Llama's 8/3 d rounded to 64
        cfg.max_seq = std::max<index_t>(o.seq, 256);
        cfg.validate();
        lethe::openmp_policy pol = o.threads > 0 ? lethe::par.with_threads(o.threads) : lethe::par;
        lm::llama<float> model(cfg, pol);
        model.init_random(o.seed);
        lm::train_options to;
        to.schedule = lm::cosine_schedule{o.lr, o.warmup, o.steps, 0.1};
        to.adam.weight_decay = 0.1;
        to.max_grad_norm = 1.0;
        lm::trainer<float> tr(model, to);
        std::printf("train-tiny: %zu bytes, model %ld params (d %ld, %ld layers, %ld/%ld heads, ff %ld), %d threads\n",
                    text.size(), long(cfg.num_parameters()), long(cfg.d_model), long(cfg.n_layers), long(cfg.n_heads),
                    long(cfg.n_kv_heads), long(cfg.d_ff), pol.threads());

        std::filesystem::create_directories(o.out);
        std::ostringstream csv;
        csv << "step,loss,lr,grad_norm,tokens_per_s\n";
        std::vector<double> losses;
        std::vector<token_id> tok(std::size_t(o.batch * o.seq)), tgt(tok.size());
        std::vector<std::uint8_t> mask(tok.size(), 1);
        const auto start = std::chrono::steady_clock::now();
        double tokens_done = 0;
        for (index_t step = 0; step < o.steps; ++step) {
            // Random windows, a pure function of (seed, step): reproducible.
            for (index_t b = 0; b < o.batch; ++b) {
                const auto off = index_t(lm::hash_counter(o.seed, 0xda7a, std::uint64_t(step * o.batch + b)) %
                                         std::uint64_t(text.size() - std::size_t(o.seq)));
                for (index_t t = 0; t < o.seq; ++t) {
                    tok[std::size_t(b * o.seq + t)] = token_id(static_cast<unsigned char>(text[std::size_t(off + t)]));
                    tgt[std::size_t(b * o.seq + t)] = token_id(static_cast<unsigned char>(text[std::size_t(off + t + 1)]));
                }
            }
            tr.accumulate(tok, tgt, mask, o.batch, o.seq);
            const auto s = tr.step();
            losses.push_back(s.loss);
            tokens_done += double(o.batch * o.seq);
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            const double tps = tokens_done / secs;
            const double eta = secs / double(step + 1) * double(o.steps - step - 1);
            csv << s.step << "," << s.loss << "," << s.lr << "," << s.grad_norm << "," << tps << "\n";
            if (step % 10 == 0 || step + 1 == o.steps)
                std::printf("step %5ld/%ld  loss %.4f  lr %.2e  |g| %.3f  %.0f tok/s  ETA %.1fs\n", long(s.step),
                            long(o.steps), s.loss, s.lr, s.grad_norm, tps, eta);
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        lethe::io::write_file_atomic(std::filesystem::path(o.out) / "log.csv", csv.str());
        lethe::io::write_file_atomic(std::filesystem::path(o.out) / "loss.svg", loss_svg(losses));
        nlohmann::json summary = {{"config", lm::to_json(cfg)},      {"steps", o.steps},
                                  {"first_loss", losses.front()},    {"final_loss", losses.back()},
                                  {"seconds", secs},                 {"tokens_per_s", tokens_done / secs},
                                  {"threads", pol.threads()},        {"seed", o.seed}};
        lethe::io::write_file_atomic(std::filesystem::path(o.out) / "summary.json", summary.dump(2) + "\n");
        if (!o.save.empty()) lm::save_pretrained(model, o.save);

        // Greedy sample through the KV cache (the causal_lm interface).
        model.set_num_slots(1);
        const std::string prompt = text.substr(0, std::min<std::size_t>(16, text.size()));
        std::vector<token_id> ptoks;
        for (char c : prompt) ptoks.push_back(token_id(static_cast<unsigned char>(c)));
        std::vector<float> logits(256);
        const index_t slot = 0;
        std::span<const token_id> row(ptoks);
        model.prefill(std::span<const index_t>(&slot, 1), std::span<const std::span<const token_id>>(&row, 1),
                      lethe::make_view(logits.data(), 1, 256));
        std::string sample = prompt;
        for (int i = 0; i < 48 && model.length(0) < model.max_length(); ++i) {
            const token_id next = token_id(std::max_element(logits.begin(), logits.end()) - logits.begin());
            sample.push_back(char(next));
            model.step(std::span<const index_t>(&slot, 1), std::span<const token_id>(&next, 1),
                       lethe::make_view(logits.data(), 1, 256));
        }
        for (char& c : sample)
            if (static_cast<unsigned char>(c) < 32 && c != '\n') c = ' ';
        std::printf("loss %.4f -> %.4f in %.1fs; wrote %s/{loss.svg,log.csv,summary.json}\nsample: %s\n",
                    losses.front(), losses.back(), secs, o.out.c_str(), sample.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    }
}

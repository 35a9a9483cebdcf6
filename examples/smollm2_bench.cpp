// smollm2-bench: prefill and decode tokens/s of lethe's reference transformer
// on a GGUF llama model (SmolLM2-135M-Instruct by default), the lethe side
// of bench/peers/llamacpp_speed.py.
//
// Prompt token ids are (7919 * i + 13) mod vocab, i = 0..n-1 (the peer script
// uses the same ids); decoding appends the argmax token each step. Timings
// are medians over --repeats runs, each starting from an empty KV cache.
// Also printed: the process's resident memory after the runs, and the
// decode floor of the chosen weight storage: the weight bytes one step reads
// over the bandwidth of a plain read of that many bytes, measured in the
// same process with the same threads. The last line is one JSON object for
// scripts.
#include <lethe/io/gguf_llama_model.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using lethe::index_t;
using lethe::token_id;
using clock_type = std::chrono::steady_clock;

void usage(std::ostream& os) {
    os << "usage: smollm2-bench [options]\n"
          "Prefill and decode tokens/s of lethe on a GGUF llama model.\n"
          "  --model PATH          GGUF file (default: $LETHE_SMOLLM2, else\n"
          "                        ~/.cache/lethe/SmolLM2-135M-Instruct.Q4_1.gguf from scripts/get-smollm2)\n"
          "  --threads N           OpenMP threads (default 2)\n"
          "  --prompt-tokens N     tokens prefilled in one call (default 128)\n"
          "  --decode-tokens N     tokens decoded one step at a time after the prompt (default 64)\n"
          "  --repeats N           runs; medians are reported (default 3)\n"
          "  --weights W           fp32 | bf16 | quantized: what prefill/step read (default fp32;\n"
          "                        quantized: the file's blocks for decode, fp32 for prefill)\n"
          "  --help                this text\n";
}

[[noreturn]] void bad_argument(const std::string& msg) {
    std::cerr << "smollm2-bench: " << msg << "\n(run smollm2-bench --help for the options)\n";
    std::exit(2);
}

index_t parse_count(std::string_view flag, std::string_view text, index_t lo, index_t hi) {
    index_t v = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (r.ec != std::errc{} || r.ptr != text.data() + text.size() || v < lo || v > hi)
        bad_argument(std::string(flag) + ": '" + std::string(text) + "' is not an integer in [" + std::to_string(lo) +
                     ", " + std::to_string(hi) + "]");
    return v;
}

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// VmRSS of this process in MB (0 where /proc is missing).
double resident_mb() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1000.0;  // kB -> MB
    return 0.0;
}

// Seconds to read `bytes` once with the policy's threads (best of 5 after a
// warm-up): the memory-bandwidth floor of a decode step that reads that many
// weight bytes. Each thread XORs its contiguous share as 64-bit words.
template <class Policy>
double read_seconds(const Policy& pol, std::size_t bytes) {
    const index_t words = index_t(bytes / 8), parts = 64;
    std::vector<std::uint64_t> buf(static_cast<std::size_t>(words));
    for (index_t i = 0; i < words; ++i) buf[std::size_t(i)] = std::uint64_t(i) * 0x9E3779B97F4A7C15ull;
    std::vector<std::uint64_t> sink(static_cast<std::size_t>(parts));
    double best = 1e30;
    for (int rep = 0; rep < 6; ++rep) {
        const std::uint64_t* p = buf.data();
        std::uint64_t* out = sink.data();
        const auto t0 = clock_type::now();
        pol.parallel_for(parts, [=](index_t k) {
            std::uint64_t x = 0;
            const index_t lo = words * k / parts, hi = words * (k + 1) / parts;
            LETHE_SIMD_REDUCTION(^ : x)
            for (index_t i = lo; i < hi; ++i) x ^= p[i];
            out[k] = x;
        });
        const double t = seconds_since(t0);
        if (rep > 0) best = std::min(best, t);
    }
    volatile std::uint64_t keep = 0;
    for (auto v : sink) keep = keep ^ v;
    return best;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    std::filesystem::path model = lethe::io::smollm2_path();
    index_t threads = 2, prompt_tokens = 128, decode_tokens = 64, repeats = 3;
    auto weights = lethe::model::weight_storage::fp32;
    for (int a = 1; a < argc; ++a) {
        const std::string_view flag = argv[a];
        auto value = [&]() -> std::string_view {
            if (a + 1 >= argc) bad_argument(std::string(flag) + " needs a value");
            return argv[++a];
        };
        if (flag == "--help" || flag == "-h") {
            usage(std::cout);
            return 0;
        } else if (flag == "--model") {
            model = std::string(value());
        } else if (flag == "--threads") {
            threads = parse_count(flag, value(), 1, 256);
        } else if (flag == "--prompt-tokens") {
            prompt_tokens = parse_count(flag, value(), 1, 8192);
        } else if (flag == "--decode-tokens") {
            decode_tokens = parse_count(flag, value(), 1, 8192);
        } else if (flag == "--repeats") {
            repeats = parse_count(flag, value(), 1, 1000);
        } else if (flag == "--weights") {
            const auto w = value();
            if (w == "fp32") weights = lethe::model::weight_storage::fp32;
            else if (w == "bf16") weights = lethe::model::weight_storage::bf16;
            else if (w == "quantized") weights = lethe::model::weight_storage::quantized;
            else bad_argument("--weights must be fp32, bf16 or quantized, got '" + std::string(w) + "'");
        } else {
            bad_argument("unknown option '" + std::string(flag) + "'");
        }
    }
    if (!std::filesystem::exists(model))
        bad_argument("model file " + model.string() + " not found (run scripts/get-smollm2 or pass --model)");
    try {
        const auto pol = lethe::par.with_threads(static_cast<int>(threads));
        const auto t_load = clock_type::now();
        auto loaded = lethe::io::load_gguf_llama(model, {.max_seq = prompt_tokens + decode_tokens, .slots = 1, .policy = pol, .weights = weights});
        const double load_s = seconds_since(t_load);
        auto& m = loaded.model;
        const index_t V = m.vocab_size();
        std::vector<token_id> prompt(static_cast<std::size_t>(prompt_tokens));
        for (index_t i = 0; i < prompt_tokens; ++i) prompt[std::size_t(i)] = token_id((7919 * i + 13) % V);
        std::vector<float> logits(static_cast<std::size_t>(V));
        const auto out = lethe::make_view(logits.data(), index_t(1), V);
        const index_t slot[1] = {0};
        std::vector<double> prefill_s, decode_s;
        for (index_t r = 0; r < repeats; ++r) {
            m.reset(0);
            const std::span<const token_id> row(prompt);
            auto t0 = clock_type::now();
            m.prefill(slot, std::span<const std::span<const token_id>>(&row, 1), out);
            prefill_s.push_back(seconds_since(t0));
            t0 = clock_type::now();
            for (index_t s = 0; s < decode_tokens; ++s) {
                const auto next = token_id(std::max_element(logits.begin(), logits.end()) - logits.begin());
                m.step(slot, std::span<const token_id>(&next, 1), out);
            }
            decode_s.push_back(seconds_since(t0));
        }
        const double prefill_tps = double(prompt_tokens) / median(prefill_s);
        const double decode_tps = double(decode_tokens) / median(decode_s);
        const char* wname = weights == lethe::model::weight_storage::bf16        ? "bf16"
                            : weights == lethe::model::weight_storage::quantized ? "quantized"
                                                                                 : "fp32";
        const double rss_mb = resident_mb(), copy_mb = double(m.inference_copy_bytes()) / 1e6;
        // Weight bytes one decode step reads: every matrix once (the tied
        // head included, the embedding only a row), norm vectors aside.
        std::size_t matrix_elements = 0;
        for (const auto& t : m.params().layout().tensors())
            if (!t.is_vector) matrix_elements += std::size_t(t.size());
        const std::size_t step_bytes = weights == lethe::model::weight_storage::quantized ? m.inference_copy_bytes()
                                       : weights == lethe::model::weight_storage::bf16   ? 2 * matrix_elements
                                                                                         : 4 * matrix_elements;
        const double read_s = read_seconds(pol, step_bytes);
        const double floor_tps = 1.0 / read_s, read_gbs = double(step_bytes) / read_s / 1e9;
        std::cout << "lethe " << model.filename().string() << ", " << wname << " weights, " << threads << " threads: load " << load_s
                  << " s, prefill " << prompt_tokens << " tokens " << prefill_tps << " tok/s, decode "
                  << decode_tokens << " tokens " << decode_tps << " tok/s (medians of " << repeats << "); resident "
                  << rss_mb << " MB, of which inference copy " << copy_mb << " MB; a step reads "
                  << double(step_bytes) / 1e6 << " MB of weights, a plain read of that many bytes takes "
                  << read_s * 1e3 << " ms (" << read_gbs << " GB/s): floor " << floor_tps << " tok/s\n";
        std::cout << "{\"engine\": \"lethe\", \"weights\": \"" << wname << "\", \"threads\": " << threads << ", \"prompt_tokens\": " << prompt_tokens
                  << ", \"decode_tokens\": " << decode_tokens << ", \"load_s\": " << load_s
                  << ", \"prefill_tok_s\": " << prefill_tps << ", \"decode_tok_s\": " << decode_tps
                  << ", \"resident_mb\": " << rss_mb << ", \"inference_copy_mb\": " << copy_mb
                  << ", \"step_weight_mb\": " << double(step_bytes) / 1e6 << ", \"read_gb_s\": " << read_gbs
                  << ", \"floor_tok_s\": " << floor_tps << "}\n";
        return 0;
    } catch (const lethe::error& e) {
        std::cerr << "smollm2-bench: " << e.what() << "\n";
        return 1;
    }
}

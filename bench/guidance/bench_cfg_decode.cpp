// CFG decode cost against unguided decode of the same reference transformer
// (issue 4 target: at most 1.3x per generated token). The guided run steps
// the conditional and the negative context as two rows of one batch per
// token, so the weights are read once per step for both; Hugging Face and
// the former llama.cpp implementation run a second forward pass (~2x).
// Model: a recipe-sized Llama (d 256, 4 layers, 8 heads / 4 KV heads, vocab
// 2048), 64-token prompts, greedy tokens, 1 thread. Floor: decode is bound by
// reading the weights (~3.3M floats, 13 MB) once per step.
#include "bench_support.hpp"

#include <lethe/guidance.hpp>
#include <lethe/model.hpp>

namespace {

lethe::model::llama<float>& cfg_bench_model() {
    static lethe::model::llama<float> m = [] {
        lethe::model::llama_config c;
        c.vocab = 2048;
        c.d_model = 256;
        c.n_layers = 4;
        c.n_heads = 8;
        c.n_kv_heads = 4;
        c.d_ff = 688;
        c.max_seq = 256;
        lethe::model::llama<float> model(c, lethe::par.with_threads(1));
        model.init_random(7);
        model.set_num_slots(2);
        return model;
    }();
    return m;
}

void run_decode(benchmark::State& state, bool guided) {
    auto& m = cfg_bench_model();
    lethe::guidance::generation_request req;
    for (int i = 0; i < 64; ++i) req.prompt.push_back(static_cast<lethe::token_id>((i * 37) % 2048));
    if (guided) {
        req.negative_prompt = req.prompt;
        req.negative_prompt[3] = 5;  // a different system sentence, in miniature
        req.guidance_scale = 3.0f;
    }
    lethe::guidance::generation_options opt;
    opt.sampler.max_new_tokens = state.range(0);
    opt.sampler.params.greedy = true;
    std::int64_t tokens = 0;
    for (auto _ : state) {
        for (lethe::index_t s = 0; s < m.num_slots(); ++s) m.reset(s);
        auto out = lethe::guidance::generate(lethe::seq, m, std::span(&req, 1), opt);
        tokens += static_cast<std::int64_t>(out[0].tokens.size());
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
}

void BM_decode_unguided(benchmark::State& s) { run_decode(s, false); }
void BM_decode_cfg_log_g3(benchmark::State& s) { run_decode(s, true); }

}  // namespace

// Arg = new tokens: 1 is (almost) the prefill alone; the per-token decode
// cost is (time(33) - time(1)) / 32, for both runs.
BENCHMARK(BM_decode_unguided)->Arg(1)->Arg(33)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_decode_cfg_log_g3)->Arg(1)->Arg(33)->Unit(benchmark::kMillisecond)->UseRealTime();

// The thrust model on thrust's OMP and CPP systems (Debian thrust 1.17, host
// GEMM) against the CPU model: logits of prefill and decode, ragged batches,
// greedy and CFG generation, fork, errors, parameter transfer; training,
// AdamW, LoRA (against llama<T>::enable_lora, PEFT files both ways) and
// per-layer recomputation.
#define BOOST_TEST_MODULE thrust_llama
#include <lethe/backend/thrust.hpp>
#include <lethe/io/peft.hpp>
#include <lethe/model/thrust_host_gemm.hpp>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "test_thrust_llama_cases.hpp"

namespace {

auto make_omp = [](const lethe::model::llama_config& c) {
    return lethe::model::thrust_llama(c, lethe::thrust_omp(), lethe::model::thrust_host_gemm{});
};
auto make_cpp = [](const lethe::model::llama_config& c) {
    return lethe::model::thrust_llama(c, lethe::thrust_cpp(), lethe::model::thrust_host_gemm{});
};

auto make_omp_double = [](const lethe::model::llama_config& c) {
    return lethe::model::thrust_llama<decltype(lethe::thrust_omp()), lethe::model::thrust_host_gemm, double>(
        c, lethe::thrust_omp());
};

static_assert(lethe::causal_lm<decltype(make_omp(thrust_llama_cases::small_config()))>);

// Same GEMMs as the CPU model (both use layers.hpp); only the summation
// order differs: RMSNorm sums (SIMD partial sums there, one serial sum here)
// and the attention softmax (online there, three passes here). Logits are
// O(1): float rounding of those reorderings stays ~1e-6, so 2e-5 (the bound
// the CPU model's own decode-vs-forward test uses) is the tolerance.
constexpr double tol = 2e-5;

}  // namespace

BOOST_AUTO_TEST_CASE(omp_prefill_and_decode_match_cpu) { thrust_llama_cases::prefill_and_decode_match_cpu(make_omp, tol); }
BOOST_AUTO_TEST_CASE(cpp_prefill_and_decode_match_cpu) { thrust_llama_cases::prefill_and_decode_match_cpu(make_cpp, tol); }
BOOST_AUTO_TEST_CASE(omp_ragged_batch_matches_cpu) { thrust_llama_cases::ragged_batch_matches_cpu(make_omp, tol); }
BOOST_AUTO_TEST_CASE(omp_generate_matches_cpu) { thrust_llama_cases::generate_matches_cpu(make_omp); }
BOOST_AUTO_TEST_CASE(omp_wide_model_matches_cpu) { thrust_llama_cases::wide_model_matches_cpu(make_omp, 1e-4); }
BOOST_AUTO_TEST_CASE(omp_fork_errors_and_parameters) { thrust_llama_cases::fork_errors_and_parameters(make_omp); }

// Training: in double the two models differ only by summation order, so
// 1e-12 relative (measured: 2e-15); in float the same
// reorderings give ~7e-7 relative on gradients (measured), bounded by 1e-4.
BOOST_AUTO_TEST_CASE(omp_training_double_matches_cpu) {
    thrust_llama_cases::training_matches_cpu<double>(make_omp_double, 1e-12, 1e-12);
}
BOOST_AUTO_TEST_CASE(omp_training_float_matches_cpu) { thrust_llama_cases::training_matches_cpu<float>(make_omp, tol, 1e-4); }
// AdamW: the same operations per element in the same order (1e-6 absolute
// on O(0.1) parameters allows for FMA contraction in optimised builds).
BOOST_AUTO_TEST_CASE(omp_adamw_matches_cpu) { thrust_llama_cases::adamw_matches_cpu(make_omp, 1e-6); }
// Six training steps: per-step float differences of ~1e-6 (see above) feed
// back through the updates; 1e-4 on losses of about 3.6 bounds them.
BOOST_AUTO_TEST_CASE(omp_training_loop_matches_cpu) { thrust_llama_cases::training_loop_matches_cpu(make_omp, 1e-4); }

// LoRA. Double: only summation order differs (as above), 1e-12. Float: the
// base path's ~7e-7 relative reorderings (above) reach the adapter
// gradients through the same products, bounded by 1e-4 as for the base.
BOOST_AUTO_TEST_CASE(omp_lora_double_matches_cpu) {
    thrust_llama_cases::lora_matches_cpu<double>(make_omp_double, 1e-12, 1e-12);
}
BOOST_AUTO_TEST_CASE(omp_lora_float_matches_cpu) { thrust_llama_cases::lora_matches_cpu<float>(make_omp, tol, 1e-4); }
BOOST_AUTO_TEST_CASE(cpp_lora_float_matches_cpu) { thrust_llama_cases::lora_matches_cpu<float>(make_cpp, tol, 1e-4); }
BOOST_AUTO_TEST_CASE(omp_lora_merge_round_trip) { thrust_llama_cases::lora_merge_round_trip(make_omp, tol); }
// Five steps: float differences of ~1e-6 per step fed back through AdamW
// (lr 2e-2): 1e-4 on losses of about 3.6, as the full-parameter loop.
BOOST_AUTO_TEST_CASE(omp_lora_training_loop_matches_cpu) {
    thrust_llama_cases::lora_training_loop_matches_cpu(make_omp, 1e-4);
}
BOOST_AUTO_TEST_CASE(omp_lora_errors) { thrust_llama_cases::lora_errors(make_omp); }
BOOST_AUTO_TEST_CASE(omp_recompute_matches_stored) { thrust_llama_cases::recompute_matches_stored(make_omp); }

// PEFT files both ways: adapters of the CPU model written with the PEFT
// writer (io/peft.hpp) load into the thrust model and give the CPU model's
// logits; adapters changed on the thrust model, stored and written the same
// way, load into the CPU model and give the thrust model's logits.
BOOST_AUTO_TEST_CASE(omp_lora_peft_files_both_ways) {
    namespace lm = lethe::model;
    namespace io = lethe::io;
    namespace fs = std::filesystem;
    using lethe::index_t;
    const auto c = thrust_llama_cases::small_config();
    lm::lora_config lc;
    lc.rank = 3;
    lc.alpha = 6.0;
    lc.targets = {"q_proj", "o_proj", "up_proj"};
    thrust_llama_cases::lora_cases::lora_pair<float, decltype(make_omp)> pair(make_omp, c, 21, lc, 4);
    auto& cpu = pair.cpu;
    auto& m = pair.gpu;
    const fs::path dir = fs::temp_directory_path() / ("lethe-thrust-peft-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto write = [&](const lm::named_tensors<float>& block, const fs::path& to) {
        io::safetensors_writer w;
        for (const auto& t : block.layout().tensors()) w.add(t.name, {t.rows, t.cols}, block.data() + t.offset);
        io::lora_adapter_config pc;
        pc.r = lc.rank;
        pc.lora_alpha = lc.alpha;
        pc.lora_dropout = lc.dropout;
        pc.target_modules = lc.targets;
        io::write_peft_adapter(to, pc, w);
    };
    auto read = [&](const fs::path& from, lm::named_tensors<float>& block) {
        const auto ad = io::read_peft_adapter(from);
        BOOST_CHECK_EQUAL(ad.config.r, lc.rank);
        for (const auto& t : block.layout().tensors())
            ad.weights.load_into(t.name, {t.rows, t.cols}, block.data() + t.offset);
    };
    const index_t V = c.vocab;
    const auto prompt = thrust_llama_cases::some_tokens(11, 4, V);
    auto logits = [&](auto& model) {
        model.set_num_slots(1);
        std::vector<float> out;
        thrust_llama_cases::prefill_rows(model, {0}, {prompt}, out);
        return out;
    };

    // CPU -> file -> thrust (the thrust model first gets other adapters).
    m.enable_lora(lc, 99);
    write(cpu.lora()->params, dir / "from-cpu");
    lm::named_tensors<float> a(m.lora_layout());
    read(dir / "from-cpu", a);
    BOOST_CHECK(a.storage() == cpu.lora()->params.storage());
    m.load_lora(a);
    const auto want = logits(cpu), got = logits(m);
    BOOST_CHECK_MESSAGE(thrust_llama_cases::max_abs_diff(want, got) <= tol,
                        "CPU adapters on the thrust model: " << thrust_llama_cases::max_abs_diff(want, got));

    // thrust -> file -> CPU: scale the adapters in the model's memory first.
    auto& block = m.lora_parameter_block();
    lethe::model::thrust_kernels::scale(m.policy(), thrust::raw_pointer_cast(block.data()), index_t(block.size()), 1.5f);
    lm::named_tensors<float> b(m.lora_layout());
    m.store_lora(b);
    write(b, dir / "from-thrust");
    read(dir / "from-thrust", cpu.lora()->params);
    BOOST_CHECK(cpu.lora()->params.storage() == b.storage());
    const auto want2 = logits(cpu), got2 = logits(m);
    BOOST_CHECK_MESSAGE(thrust_llama_cases::max_abs_diff(want2, got2) <= tol,
                        "thrust adapters on the CPU model: " << thrust_llama_cases::max_abs_diff(want2, got2));
    BOOST_CHECK_GT(thrust_llama_cases::max_abs_diff(want, want2), 100 * tol);  // the scaling changed the function
    fs::remove_all(dir);
}

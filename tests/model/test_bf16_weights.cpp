#define BOOST_TEST_MODULE bf16_weights
#include "lethe_test.hpp"

#include <lethe/io/float16.hpp>
#include <lethe/model/llama.hpp>

#include <array>
#include <cmath>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace lm = lethe::model;
namespace kn = lethe::model::kernels;
using lethe::index_t;
using lethe::token_id;

namespace {

// Deterministic values in [-1, 1).
float wave(index_t i, int salt) { return float(std::sin(0.7 * double(i) + 1.3 * salt)); }

std::vector<kn::bf16_t> bf16_matrix(index_t rows, index_t cols, int salt) {
    std::vector<kn::bf16_t> w(std::size_t(rows * cols));
    for (index_t i = 0; i < rows * cols; ++i) w[std::size_t(i)] = lethe::io::float_to_bf16(wave(i, salt));
    return w;
}

// Checks y[n, out] against x W^T (+ y0 when accumulating) in double. A float
// sum of `in` products in any order is within in * 2^-24 * sum |w x| of the
// exact value (Higham, Accuracy and Stability, eq. 3.5: gamma_n ~ n u); the
// accumulate adds one more rounding of |y0 + s|.
void check_against_double(const std::vector<float>& x, const std::vector<kn::bf16_t>& w,
                          const std::vector<float>& y0, const std::vector<float>& y, index_t n, index_t in, index_t out,
                          bool accumulate) {
    const double u = std::ldexp(1.0, -24);
    double worst = 0;
    for (index_t r = 0; r < n; ++r)
        for (index_t j = 0; j < out; ++j) {
            double s = 0, mag = 0;
            for (index_t c = 0; c < in; ++c) {
                const double p = double(lethe::io::bf16_to_float(w[std::size_t(j * in + c)])) * x[std::size_t(r * in + c)];
                s += p;
                mag += std::abs(p);
            }
            const double base = accumulate ? double(y0[std::size_t(r * out + j)]) : 0.0;
            const double want = base + s;
            const double bound = double(in + 1) * u * (mag + std::abs(base)) + u * std::abs(want);
            const double err = std::abs(double(y[std::size_t(r * out + j)]) - want);
            worst = std::max(worst, err / bound);
            BOOST_TEST_REQUIRE(err <= bound, "row " << r << " col " << j << ": |err| " << err << " > bound " << bound);
        }
    BOOST_TEST_MESSAGE("worst error / bound = " << worst);
}

lm::llama_config small_config() {
    lm::llama_config c;
    c.vocab = 37;  // the head has a ragged last group of weight rows
    c.d_model = 32;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;  // grouped-query attention
    c.d_ff = 44;       // the down projection has a ragged vector tail (44 = 5 * 8 + 4)
    c.max_seq = 24;
    return c;
}

std::vector<token_id> some_tokens(index_t n, int salt) {
    std::vector<token_id> t(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) t[std::size_t(i)] = token_id((i * 7 + salt * 13 + 3) % 37);
    return t;
}

// Logits of a ragged prefill (rows of 9 and 3 tokens: 12 packed rows, the
// GEMM path), two batched decode steps (the GEMV path at n = 2) and one
// single-row step (n = 1), concatenated.
std::vector<float> run_inference(lm::llama<float>& m) {
    const index_t V = m.vocab_size();
    m.set_num_slots(2);
    const auto a = some_tokens(9, 1), b = some_tokens(3, 2);
    const std::vector<index_t> slots = {1, 0};
    const std::vector<std::span<const token_id>> rows = {std::span<const token_id>(a), std::span<const token_id>(b)};
    std::vector<float> all, lg(std::size_t(2 * V));
    auto two = lethe::make_view(lg.data(), 2, V);
    m.prefill(slots, rows, two);
    all.insert(all.end(), lg.begin(), lg.end());
    for (token_id t : {5, 11}) {
        const std::vector<token_id> next = {t, token_id(t + 1)};
        m.step(slots, next, two);
        all.insert(all.end(), lg.begin(), lg.end());
    }
    const index_t s = 0;
    const token_id t = 20;
    m.step(std::span<const index_t>(&s, 1), std::span<const token_id>(&t, 1), lethe::make_view(lg.data(), 1, V));
    all.insert(all.end(), lg.begin(), lg.begin() + V);
    return all;
}

// max |got - ref| and max |ref|.
std::pair<double, double> max_diff_and_scale(const std::vector<float>& got, const std::vector<float>& ref) {
    BOOST_REQUIRE_EQUAL(got.size(), ref.size());
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        worst = std::max(worst, double(std::abs(got[i] - ref[i])));
        scale = std::max(scale, double(std::abs(ref[i])));
    }
    return {worst, scale};
}

}  // namespace

BOOST_AUTO_TEST_CASE(gemv_matches_double_reference) {
    // in = 37: two whole blocks of 16 bf16 pairs (8 lanes) and a scalar tail of 5; out = 70 and 45:
    // ragged blocks of 32 rows and ragged groups of 4 (2) weight rows.
    const index_t in = 37, out1 = 70, out2 = 45;
    const auto w1 = bf16_matrix(out1, in, 1), w2 = bf16_matrix(out2, in, 2);
    std::vector<float> ws;
    for (index_t n = 1; n <= kn::small_batch_rows; ++n)
        for (bool acc : {false, true}) {
            std::vector<float> x(std::size_t(n * in));
            for (index_t i = 0; i < n * in; ++i) x[std::size_t(i)] = wave(i, 3 + int(n));
            std::vector<float> y1(std::size_t(n * out1)), y2(std::size_t(n * out2));
            for (index_t i = 0; i < n * out1; ++i) y1[std::size_t(i)] = wave(i, 7);
            for (index_t i = 0; i < n * out2; ++i) y2[std::size_t(i)] = wave(i, 8);
            const auto y1_0 = y1, y2_0 = y2;
            kn::bf16_gemv(lethe::par.with_threads(2), x.data(), n, in,
                          std::array<kn::bf16_output, 2>{kn::bf16_output{w1.data(), y1.data(), out1, acc},
                                                         kn::bf16_output{w2.data(), y2.data(), out2, acc}},
                          ws);
            check_against_double(x, w1, y1_0, y1, n, in, out1, acc);
            check_against_double(x, w2, y2_0, y2, n, in, out2, acc);
        }
    std::vector<float> x(5 * in), y(5 * out1);
    BOOST_CHECK_THROW(kn::bf16_gemv(lethe::seq, x.data(), 5, in,
                                    std::array<kn::bf16_output, 1>{kn::bf16_output{w1.data(), y.data(), out1, false}}, ws),
                      lethe::error);
}

BOOST_AUTO_TEST_CASE(gemm_matches_double_reference) {
    // 300 output rows: one full block of bf16_gemm_block = 256 widened rows and a ragged one.
    const index_t n = 9, in = 40, out = 300;
    const auto w = bf16_matrix(out, in, 4);
    std::vector<float> x(std::size_t(n * in)), ws;
    for (index_t i = 0; i < n * in; ++i) x[std::size_t(i)] = wave(i, 5);
    for (bool acc : {false, true}) {
        std::vector<float> y(std::size_t(n * out));
        for (index_t i = 0; i < n * out; ++i) y[std::size_t(i)] = wave(i, 6);
        const auto y0 = y;
        kn::bf16_gemm(lethe::par.with_threads(2), x.data(), n, in, kn::bf16_output{w.data(), y.data(), out, acc}, ws);
        check_against_double(x, w, y0, y, n, in, out, acc);
    }
}

BOOST_AUTO_TEST_CASE(bf16_model_equals_fp32_model_on_rounded_weights) {
    // Model A stores bf16 weights; model B holds the same bf16-rounded values
    // in fp32. They compute the same function; only float summation order
    // differs (blocked bf16 dots vs Eigen / the fp32 kernels), and O(1)
    // logits agree to ~1e-6, as in test_llama_inference (2e-5).
    constexpr double logit_tol = 2e-5;
    lm::llama<float> a(small_config()), b(small_config());
    a.init_random(3, 0.1);
    b.init_random(3, 0.1);
    a.set_inference_weights(lm::weight_storage::bf16);
    BOOST_CHECK(a.inference_weights() == lm::weight_storage::bf16);
    for (const auto& t : b.params().layout().tensors()) {
        if (t.is_vector) continue;
        float* p = b.params().data() + t.offset;
        for (index_t i = 0; i < t.size(); ++i) p[i] = lethe::io::bf16_to_float(lethe::io::float_to_bf16(p[i]));
    }
    const auto worst = max_diff_and_scale(run_inference(a), run_inference(b)).first;
    BOOST_TEST_MESSAGE("max |bf16 model - fp32 model on rounded weights| = " << worst);
    BOOST_CHECK_LE(worst, logit_tol);
}

BOOST_AUTO_TEST_CASE(bf16_model_within_rounding_bound_of_fp32_model) {
    // Rounding to bf16 changes each weight by at most 2^-9 of itself (8
    // significant bits, round to nearest). To first order a relative error
    // e per rounded matrix adds up along the chain of rounded products a
    // logit goes through: the embedding, 4 products per layer (q/k/v, o,
    // gate/up, down) and the head, K = 4 L + 2 in all, so
    // |z_bf16 - z| <= K 2^-9 max|z| (errors of random sign mostly cancel:
    // the measured spread is several times smaller).
    const auto cfg = small_config();
    lm::llama<float> m(cfg);
    m.init_random(3, 0.1);
    const auto ref = run_inference(m);
    m.set_inference_weights(lm::weight_storage::bf16);
    const auto [worst, scale] = max_diff_and_scale(run_inference(m), ref);
    const double bound = double(4 * cfg.n_layers + 2) * std::ldexp(1.0, -9) * scale;
    BOOST_TEST_MESSAGE("max |bf16 - fp32| = " << worst << ", bound " << bound << ", max |logit| " << scale);
    BOOST_CHECK_LE(worst, bound);
    BOOST_CHECK_GT(worst, 0.0);  // the bf16 copy is what inference read
    // Back to fp32: bit-identical to the model that never used bf16.
    m.set_inference_weights(lm::weight_storage::fp32);
    BOOST_CHECK(run_inference(m) == ref);
}

BOOST_AUTO_TEST_CASE(bf16_snapshot_and_lora) {
    // The bf16 copy is a snapshot of params(); unmerged adapters are added in fp32.
    lm::llama<float> m(small_config());
    m.init_random(7, 0.1);
    m.set_inference_weights(lm::weight_storage::bf16);
    const auto before = run_inference(m);
    m.params().data()[m.params().layout().find("lm_head.weight").offset] += 1.0f;
    BOOST_CHECK(run_inference(m) == before);  // stale until refreshed
    m.set_inference_weights(lm::weight_storage::bf16);
    BOOST_CHECK(run_inference(m) != before);

    lm::lora_config lc;
    lc.rank = 4;
    lc.alpha = 8;
    m.enable_lora(lc, 9);
    auto& ad = *m.lora();
    for (index_t i = 0; i < ad.params.size(); ++i) ad.params.data()[i] += 0.05f * float(std::sin(double(i)));
    const auto unmerged = run_inference(m);
    m.merge_lora();
    m.set_inference_weights(lm::weight_storage::bf16);
    // Merging then rounding differs from rounding then adding the fp32
    // adapter by the rounding of the merged delta: within the bound above.
    const auto [worst, scale] = max_diff_and_scale(run_inference(m), unmerged);
    BOOST_CHECK_LE(worst, double(4 * 2 + 2) * std::ldexp(1.0, -9) * scale);
}

BOOST_AUTO_TEST_CASE(bf16_needs_float_model) {
    lm::llama<double> m(small_config());
    BOOST_CHECK_THROW(m.set_inference_weights(lm::weight_storage::bf16), lethe::error);
    BOOST_CHECK(m.inference_weights() == lm::weight_storage::fp32);
}

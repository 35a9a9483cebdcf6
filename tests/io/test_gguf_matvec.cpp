// quantized_matvec: W x read straight from ggml blocks equals the fp32
// product with the dequantised weights (computed here in double), for every
// block type, on random blocks with finite scales; accumulate mode; bad
// shapes and workspaces throw. quantized_dot_rows with 1-4 inputs equals
// quantized_matvec on each input bit for bit.
#define BOOST_TEST_MODULE gguf_matvec
#include <lethe/io/gguf_matvec.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "lethe_test.hpp"
#include "test_gguf_support.hpp"

using namespace lethe::io;
using lethe::index_t;

using lethe_test_gguf::random_rows;

BOOST_AUTO_TEST_CASE(matches_dequantised_product_for_every_type) {
    const ggml_type types[] = {ggml_type::f32,  ggml_type::f16,  ggml_type::bf16, ggml_type::q4_0,
                               ggml_type::q4_1, ggml_type::q5_0, ggml_type::q5_1, ggml_type::q8_0,
                               ggml_type::q4_k, ggml_type::q5_k, ggml_type::q6_k};
    const index_t rows = 37, cols = 512;  // odd row count: uneven split over threads
    const auto x = lethe_test::random_normal<float>(static_cast<std::size_t>(cols), 5);
    std::vector<float> xsum(static_cast<std::size_t>(quantized_matvec_workspace(cols)));
    for (const auto t : types) {
        BOOST_TEST_CONTEXT(ggml_traits(t).name) {
            const auto w = random_rows(t, rows, cols, 11);
            std::vector<float> wf(static_cast<std::size_t>(rows * cols)), y(static_cast<std::size_t>(rows));
            dequantize_rows(lethe::seq, t, w.data(), static_cast<index_t>(w.size()), rows, cols, wf.data());
            quantized_matvec(lethe::par.with_threads(2), t, w.data(), static_cast<index_t>(w.size()), rows, cols,
                             x.data(), y.data(), std::span<float>(xsum));
            for (index_t r = 0; r < rows; ++r) {
                double ref = 0, mag = 0;
                for (index_t i = 0; i < cols; ++i) {
                    ref += double(wf[std::size_t(r * cols + i)]) * x[std::size_t(i)];
                    mag += std::abs(double(wf[std::size_t(r * cols + i)]) * x[std::size_t(i)]);
                }
                // fp32 sums of 512 terms in a different order than the double
                // reference: error <= ~n * 2^-24 * sum|w x|; 1e-5 relative to
                // sum|w x| is ~6x below that worst case and far above a wrong
                // nibble (which moves y by >= d * |x_j| ~ 1e-2 * mag / n).
                BOOST_CHECK_MESSAGE(std::abs(y[std::size_t(r)] - ref) <= 1e-5 * mag,
                                    "row " << r << ": " << y[std::size_t(r)] << " vs " << ref);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(accumulates_and_validates) {
    const index_t rows = 4, cols = 64;
    const auto w = random_rows(ggml_type::q4_1, rows, cols, 3);
    const auto x = lethe_test::random_normal<float>(static_cast<std::size_t>(cols), 7);
    std::vector<float> xsum(2), y(4), y2(4, 1.5f);
    const auto bytes = static_cast<index_t>(w.size());
    quantized_matvec(lethe::seq, ggml_type::q4_1, w.data(), bytes, rows, cols, x.data(), y.data(), std::span<float>(xsum));
    quantized_matvec(lethe::seq, ggml_type::q4_1, w.data(), bytes, rows, cols, x.data(), y2.data(), std::span<float>(xsum),
                     true);
    for (std::size_t r = 0; r < 4; ++r) BOOST_TEST(y2[r] == y[r] + 1.5f);  // same dot, then + 1.5 exactly once
    std::vector<float> small(1);
    BOOST_TEST(lethe_test::error_of([&] {
                   quantized_matvec(lethe::seq, ggml_type::q4_1, w.data(), bytes, rows, cols, x.data(), y.data(),
                                    std::span<float>(small));
               }).find("workspace holds 1 floats, needs 2") != std::string::npos);
    BOOST_TEST(lethe_test::error_of([&] {
                   quantized_matvec(lethe::seq, ggml_type::q4_1, w.data(), bytes, rows, 48, x.data(), y.data(),
                                    std::span<float>(xsum));
               }).find("multiple of the Q4_1 block") != std::string::npos);
    BOOST_TEST(lethe_test::error_of([&] {
                   quantized_matvec(lethe::seq, ggml_type::q4_1, w.data(), bytes - 1, rows, cols, x.data(), y.data(),
                                    std::span<float>(xsum));
               }).find("weights hold") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(several_inputs_equal_one_input_at_a_time) {
    // quantized_dot_rows shares each block's widened quants among n inputs;
    // every input's sum runs the same operations in the same order as with
    // n = 1, so the results are bit-identical to quantized_matvec's (which
    // the first case checks against double). Rows [5, 30) of 37 with a
    // row stride of the output: a partial range as the model's tasks take.
    const ggml_type types[] = {ggml_type::f32,  ggml_type::f16,  ggml_type::bf16, ggml_type::q4_0,
                               ggml_type::q4_1, ggml_type::q5_0, ggml_type::q5_1, ggml_type::q8_0,
                               ggml_type::q4_k, ggml_type::q5_k, ggml_type::q6_k};
    const index_t rows = 37, cols = 256, j0 = 5, j1 = 30, blocks = cols / 32;
    const auto x = lethe_test::random_normal<float>(static_cast<std::size_t>(4 * cols), 9);
    std::vector<float> xsum(static_cast<std::size_t>(4 * blocks));
    for (index_t r = 0; r < 4; ++r) quantized_block_sums(x.data() + r * cols, cols, xsum.data() + r * blocks);
    for (const auto t : types) {
        BOOST_TEST_CONTEXT(ggml_traits(t).name) {
            const auto w = random_rows(t, rows, cols, 21, 1.0f, true);
            const auto bytes = static_cast<index_t>(w.size());
            std::vector<float> single(static_cast<std::size_t>(4 * rows)), ws(static_cast<std::size_t>(blocks));
            for (index_t r = 0; r < 4; ++r)
                quantized_matvec(lethe::seq, t, w.data(), bytes, rows, cols, x.data() + r * cols,
                                 single.data() + r * rows, std::span<float>(ws));
            for (index_t n = 1; n <= quantized_dot_max_inputs; ++n)
                for (bool acc : {false, true}) {
                    std::vector<float> y(static_cast<std::size_t>(4 * rows), 0.25f);
                    quantized_dot_rows(t, w.data(), ggml_row_bytes(t, cols), cols, x.data(), xsum.data(), blocks, n,
                                       j0, j1, y.data(), rows, acc);
                    for (index_t r = 0; r < 4; ++r)
                        for (index_t j = 0; j < rows; ++j) {
                            const float got = y[std::size_t(r * rows + j)];
                            const float one = single[std::size_t(r * rows + j)];
                            // Outside the inputs or rows asked for: untouched.
                            const float want = r >= n || j < j0 || j >= j1 ? 0.25f : acc ? 0.25f + one : one;
                            BOOST_CHECK_MESSAGE(got == want, "n " << n << " acc " << acc << " input " << r << " row "
                                                                  << j << ": " << got << " vs " << want);
                        }
                }
        }
    }
}

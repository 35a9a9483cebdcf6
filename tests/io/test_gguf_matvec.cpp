// quantized_matvec: W x read straight from ggml blocks equals the fp32
// product with the dequantised weights (computed here in double), for every
// block type, on random blocks with finite scales; accumulate mode; bad
// shapes and workspaces throw.
#define BOOST_TEST_MODULE gguf_matvec
#include <lethe/io/gguf_matvec.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "lethe_test.hpp"

using namespace lethe::io;
using lethe::index_t;

namespace {

// Random rows of blocks whose f16 scales are finite and moderate (0x2000-0x3bff:
// 2^-7 .. ~1), so the products stay well inside float range.
std::vector<unsigned char> random_rows(ggml_type t, index_t rows, index_t cols, unsigned seed) {
    const auto tr = ggml_traits(t);
    std::vector<unsigned char> b(static_cast<std::size_t>(rows * ggml_row_bytes(t, cols)));
    std::mt19937 gen(seed);
    for (auto& x : b) x = static_cast<unsigned char>(gen());
    auto put_scale = [&](std::size_t at) {
        const auto h = static_cast<std::uint16_t>(0x2000 + gen() % 0x1bff);
        b[at] = h & 0xff;
        b[at + 1] = h >> 8;
    };
    if (t == ggml_type::f16 || t == ggml_type::bf16 || t == ggml_type::f32) {
        // Plain types: overwrite with small finite values.
        std::vector<float> v(static_cast<std::size_t>(rows * cols));
        for (auto& x : v) x = static_cast<float>(static_cast<int>(gen() % 2001) - 1000) / 1000.0f;
        if (t == ggml_type::f32) std::memcpy(b.data(), v.data(), b.size());
        else
            for (std::size_t i = 0; i < v.size(); ++i) {
                const std::uint16_t h = t == ggml_type::f16 ? float_to_half(v[i]) : float_to_bf16(v[i]);
                b[2 * i] = h & 0xff;
                b[2 * i + 1] = h >> 8;
            }
        return b;
    }
    const std::size_t blocks = b.size() / static_cast<std::size_t>(tr.block_bytes);
    for (std::size_t k = 0; k < blocks; ++k) {
        const std::size_t base = k * static_cast<std::size_t>(tr.block_bytes);
        switch (t) {
            case ggml_type::q6_k: put_scale(base + 208); break;
            case ggml_type::q4_k: case ggml_type::q5_k: case ggml_type::q4_1: case ggml_type::q5_1:
                put_scale(base); put_scale(base + 2); break;
            default: put_scale(base); break;
        }
    }
    return b;
}

}  // namespace

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

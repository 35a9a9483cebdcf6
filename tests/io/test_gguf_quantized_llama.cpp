// Quantised inference weights (model::weight_storage::quantized) on a tiny
// synthetic GGUF llama: a file written byte by byte with every ggml type
// lethe decodes among its matrices (Q4_1, Q8_0 tied embedding/head, Q4_K,
// Q5_0, Q4_0, F16, BF16, Q6_K, Q5_1 and one F32 matrix that has no quantised
// copy), loaded twice: model A reads the dequantised fp32 parameters, model
// B the same parameters plus the blocks (io::gguf_llama_quantized_weights).
//  * quantized_gemv computes every output as quantized_dot_rows does (whose
//    kernels test_gguf_matvec checks against double);
//  * B's logits equal A's up to float summation order, for a ragged prefill,
//    CFG-like two-row steps and single-row steps; B's greedy continuation is
//    A's; B's decode does not depend on the thread count;
//  * bad quantised weights and misuse throw; switching back to fp32 gives
//    A's logits bit for bit.
#define BOOST_TEST_MODULE gguf_quantized_llama
#include <lethe/io/gguf_llama_model.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "lethe_test.hpp"
#include "test_gguf_support.hpp"

namespace lm = lethe::model;
using namespace lethe::io;
using lethe::index_t;
using lethe::token_id;
using lethe_test_gguf::gguf_builder;
using lethe_test_gguf::random_rows;

namespace {

constexpr index_t d_model = 64, n_heads = 4, n_kv = 2, d_ff = 256, vocab = 37, n_layers = 2, max_seq = 24;

struct tensor_spec {
    std::string name;
    std::vector<std::uint64_t> dims;  // ggml order: {cols, rows} or {n}
    ggml_type type;
};

std::vector<tensor_spec> tiny_tensors() {
    const auto d = std::uint64_t(d_model), f = std::uint64_t(d_ff), kvd = std::uint64_t(d_model / n_heads * n_kv);
    // Layer 0 in SmolLM2's types (Q4_1; Q4_K for the 256-wide down
    // projection), layer 1 in all the others. blk.1.attn_v stays F32: no
    // quantised copy, so the q|k|v group mixes the two paths.
    const ggml_type types[2][7] = {
        {ggml_type::q4_1, ggml_type::q4_1, ggml_type::q4_1, ggml_type::q4_1, ggml_type::q4_1, ggml_type::q4_1,
         ggml_type::q4_k},
        {ggml_type::q5_0, ggml_type::q4_0, ggml_type::f32, ggml_type::f16, ggml_type::bf16, ggml_type::q5_1,
         ggml_type::q6_k}};
    std::vector<tensor_spec> t = {{"token_embd.weight", {d, std::uint64_t(vocab)}, ggml_type::q8_0},
                                  {"output_norm.weight", {d}, ggml_type::f32}};
    for (int l = 0; l < int(n_layers); ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        const auto* ty = types[l];
        t.push_back({p + "attn_norm.weight", {d}, ggml_type::f32});
        t.push_back({p + "ffn_norm.weight", {d}, ggml_type::f32});
        t.push_back({p + "attn_q.weight", {d, d}, ty[0]});
        t.push_back({p + "attn_k.weight", {d, kvd}, ty[1]});
        t.push_back({p + "attn_v.weight", {d, kvd}, ty[2]});
        t.push_back({p + "attn_output.weight", {d, d}, ty[3]});
        t.push_back({p + "ffn_gate.weight", {d, f}, ty[4]});
        t.push_back({p + "ffn_up.weight", {d, f}, ty[5]});
        t.push_back({p + "ffn_down.weight", {f, d}, ty[6]});
    }
    return t;
}

// A GGUF v3 llama file with random weights (norm weights near 1; matrices
// with values of about +-0.3, so the logits are O(1) and well separated).
std::vector<unsigned char> tiny_gguf() {
    const auto specs = tiny_tensors();
    gguf_builder g;
    g.header(3, specs.size(), 10);
    g.key("general.architecture", gguf_value_type::string); g.str("llama");
    g.key("general.alignment", gguf_value_type::u32); g.u32(32);
    g.key("llama.attention.head_count", gguf_value_type::u32); g.u32(std::uint32_t(n_heads));
    g.key("llama.attention.head_count_kv", gguf_value_type::u32); g.u32(std::uint32_t(n_kv));
    g.key("llama.embedding_length", gguf_value_type::u32); g.u32(std::uint32_t(d_model));
    g.key("llama.block_count", gguf_value_type::u32); g.u32(std::uint32_t(n_layers));
    g.key("llama.feed_forward_length", gguf_value_type::u32); g.u32(std::uint32_t(d_ff));
    g.key("llama.context_length", gguf_value_type::u32); g.u32(std::uint32_t(max_seq));
    g.key("llama.rope.freq_base", gguf_value_type::f32); g.f32(10000.0f);
    g.key("llama.attention.layer_norm_rms_epsilon", gguf_value_type::f32); g.f32(1e-5f);
    std::vector<std::vector<unsigned char>> data;
    std::uint64_t offset = 0;
    unsigned seed = 100;
    for (const auto& s : specs) {
        const bool vector = s.dims.size() == 1;
        const index_t cols = index_t(s.dims[0]), rows = vector ? 1 : index_t(s.dims[1]);
        auto bytes = random_rows(s.type, rows, cols, seed++, 0.3f, true);
        if (vector)
            for (index_t i = 0; i < cols; ++i) {
                const float v = 1.0f + 0.2f * std::sin(float(i) + float(seed));
                std::memcpy(bytes.data() + 4 * i, &v, 4);
            }
        g.tensor(s.name, s.dims, s.type, offset);
        offset += (bytes.size() + 31) / 32 * 32;
        data.push_back(std::move(bytes));
    }
    g.pad_to(32);
    for (const auto& bytes : data) {
        g.b.insert(g.b.end(), bytes.begin(), bytes.end());
        g.pad_to(32);
    }
    return g.b;
}

const std::vector<unsigned char>& file_bytes() {
    static const auto b = tiny_gguf();
    return b;
}
const gguf_file& file() {
    static const gguf_file f = gguf_file::parse(std::span<const unsigned char>(file_bytes()), "tiny.gguf");
    return f;
}

lm::llama<float> fp32_model(lethe::openmp_policy pol = lethe::par.with_threads(2)) {
    lm::llama<float> m(lm::config_from_json(gguf_llama_hf_config(file())), pol);
    load_gguf_llama_weights(file(), m, pol);
    return m;
}
lm::llama<float> quantized_model(lethe::openmp_policy pol = lethe::par.with_threads(2)) {
    auto m = fp32_model(pol);
    m.set_inference_weights(gguf_llama_quantized_weights(file(), m.params().layout(), pol));
    return m;
}

std::vector<token_id> some_tokens(index_t n, int salt) {
    std::vector<token_id> t(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) t[std::size_t(i)] = token_id((i * 7 + salt * 13 + 3) % vocab);
    return t;
}

// Logits of a ragged prefill (rows of 9 and 3 tokens: 12 packed rows, the
// fp32 GEMM path for the layers, the quantised head for the 2 last rows),
// two steps of 2 rows (a CFG pair) and one step of 1 row, concatenated.
std::vector<float> run_inference(lm::llama<float>& m) {
    m.set_num_slots(2);
    const auto a = some_tokens(9, 1), b = some_tokens(3, 2);
    const std::vector<index_t> slots = {1, 0};
    const std::vector<std::span<const token_id>> rows = {std::span<const token_id>(a), std::span<const token_id>(b)};
    std::vector<float> all, lg(std::size_t(2 * vocab));
    auto two = lethe::make_view(lg.data(), index_t(2), vocab);
    m.prefill(slots, rows, two);
    all.insert(all.end(), lg.begin(), lg.end());
    for (token_id t : {5, 11}) {
        const std::vector<token_id> next = {t, token_id(t + 1)};
        m.step(slots, next, two);
        all.insert(all.end(), lg.begin(), lg.end());
    }
    const index_t s = 0;
    const token_id t = 20;
    m.step(std::span<const index_t>(&s, 1), std::span<const token_id>(&t, 1), lethe::make_view(lg.data(), index_t(1), vocab));
    all.insert(all.end(), lg.begin(), lg.begin() + vocab);
    return all;
}

// Greedy decoding from a 3-token prompt (prefill of 3 rows: the quantised
// path throughout): the tokens and, per step, the logits' best-two margin.
struct greedy_run {
    std::vector<token_id> tokens;
    std::vector<float> margins, logits;
};
greedy_run greedy(lm::llama<float>& m, index_t steps) {
    m.set_num_slots(1);
    const auto prompt = some_tokens(3, 4);
    const index_t slot = 0;
    std::vector<float> lg(static_cast<std::size_t>(vocab));
    const auto out = lethe::make_view(lg.data(), index_t(1), vocab);
    const std::span<const token_id> row(prompt);
    m.prefill(std::span<const index_t>(&slot, 1), std::span<const std::span<const token_id>>(&row, 1), out);
    greedy_run g;
    for (index_t i = 0; i < steps; ++i) {
        auto sorted = lg;
        std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
        const auto next = token_id(std::max_element(lg.begin(), lg.end()) - lg.begin());
        g.tokens.push_back(next);
        g.margins.push_back(sorted[0] - sorted[1]);
        g.logits.insert(g.logits.end(), lg.begin(), lg.end());
        m.step(std::span<const index_t>(&slot, 1), std::span<const token_id>(&next, 1), out);
    }
    return g;
}

double max_abs(const std::vector<float>& v) {
    double m = 0;
    for (float x : v) m = std::max(m, double(std::abs(x)));
    return m;
}
double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
    BOOST_REQUIRE_EQUAL(a.size(), b.size());
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::abs(a[i] - b[i])));
    return m;
}

// Models A and B compute the same function: B's blocks dequantise to A's
// parameters exactly (the same dequantisers), so they differ only in float
// summation order (and, for Q4_1, d * sum q x + m * sum x against
// sum (d q + m) x). That is the situation of test_bf16_weights and
// test_llama_inference, whose O(1) logits agree within 2e-5; relative to
// the largest logit here.
constexpr double order_tol = 2e-5;

}  // namespace

BOOST_AUTO_TEST_CASE(file_holds_every_type_and_loads_quantized) {
    int quantised = 0;
    auto b = quantized_model();
    BOOST_CHECK(b.inference_weights() == lm::weight_storage::quantized);
    const auto q = gguf_llama_quantized_weights(file(), b.params().layout());
    const auto& L = b.params().layout().tensors();
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < L.size(); ++i) {
        if (!q.matrices[i]) continue;
        ++quantised;
        BOOST_TEST(!L[i].is_vector);
        bytes += std::size_t(q.matrices[i].rows * q.matrices[i].row_bytes);
    }
    BOOST_TEST(quantised == 1 + 7 + 6);  // the tied embedding/head, layer 0, layer 1 without its F32 v_proj
    BOOST_TEST(q.bytes >= bytes);
    BOOST_TEST(b.inference_copy_bytes() == q.bytes);
    // The Q4_1 q_proj of layer 0 dequantises row by row to A's (un-permuted) parameters.
    const auto a = fp32_model();
    const auto& layout = a.params().layout();
    const std::size_t qi = std::size_t(std::find_if(L.begin(), L.end(), [](const auto& t) {
                                           return t.name == "model.layers.0.self_attn.q_proj.weight";
                                       }) - L.begin());
    const auto& m = q.matrices[qi];
    BOOST_REQUIRE(m);
    BOOST_TEST(std::string(m.format->name) == "Q4_1");
    std::vector<float> row(static_cast<std::size_t>(d_model));
    for (index_t j = 0; j < m.rows; ++j) {
        m.format->dequantize_row(m.row(j), row.data(), m.cols);
        BOOST_TEST_REQUIRE(std::equal(row.begin(), row.end(), a.params().data() + layout[index_t(qi)].offset + j * d_model));
    }
}

BOOST_AUTO_TEST_CASE(quantized_gemv_equals_dot_rows_per_output) {
    // Three outputs in one call (Q4_1 37 rows: a ragged block of 32; Q8_0 70;
    // a skipped one), n = 1..4, both accumulate modes, 2 threads.
    const index_t in = 64;
    const auto w1 = random_rows(ggml_type::q4_1, 37, in, 1, 0.3f, true), w2 = random_rows(ggml_type::q8_0, 70, in, 2, 0.3f);
    const lm::quantized_matrix m1{ggml_quantized_format(ggml_type::q4_1), w1.data(), 37, in, ggml_row_bytes(ggml_type::q4_1, in)};
    const lm::quantized_matrix m2{ggml_quantized_format(ggml_type::q8_0), w2.data(), 70, in, ggml_row_bytes(ggml_type::q8_0, in)};
    std::vector<float> ws;
    for (index_t n = 1; n <= lm::kernels::small_batch_rows; ++n)
        for (bool acc : {false, true}) {
            const auto x = lethe_test::random_normal<float>(std::size_t(n * in), unsigned(n));
            std::vector<float> y1(std::size_t(n * 37), 0.5f), y2(std::size_t(n * 70), -0.5f);
            auto r1 = y1, r2 = y2;
            lm::kernels::quantized_gemv(lethe::par.with_threads(2), x.data(), n, in,
                                        std::array<lm::kernels::quantized_output, 3>{
                                            lm::kernels::quantized_output{&m1, y1.data(), acc},
                                            lm::kernels::quantized_output{},
                                            lm::kernels::quantized_output{&m2, y2.data(), acc}},
                                        ws);
            std::vector<float> xsum(std::size_t(n * 2));
            for (index_t r = 0; r < n; ++r) quantized_block_sums(x.data() + r * in, in, xsum.data() + 2 * r);
            quantized_dot_rows(ggml_type::q4_1, w1.data(), m1.row_bytes, in, x.data(), xsum.data(), 2, n, 0, 37,
                               r1.data(), 37, acc);
            quantized_dot_rows(ggml_type::q8_0, w2.data(), m2.row_bytes, in, x.data(), nullptr, 0, n, 0, 70,
                               r2.data(), 70, acc);
            BOOST_TEST(y1 == r1);
            BOOST_TEST(y2 == r2);
        }
    std::vector<float> x(5 * in), y(5 * 37);
    BOOST_CHECK_THROW(lm::kernels::quantized_gemv(lethe::seq, x.data(), 5, in,
                                                  std::array<lm::kernels::quantized_output, 1>{
                                                      lm::kernels::quantized_output{&m1, y.data(), false}},
                                                  ws),
                      lethe::error);
    BOOST_CHECK_THROW(lm::kernels::quantized_gemv(lethe::seq, x.data(), 1, in + 32,
                                                  std::array<lm::kernels::quantized_output, 1>{
                                                      lm::kernels::quantized_output{&m1, y.data(), false}},
                                                  ws),
                      lethe::error);
}

BOOST_AUTO_TEST_CASE(quantized_model_equals_fp32_model) {
    auto a = fp32_model();
    auto b = quantized_model();
    const auto ra = run_inference(a), rb = run_inference(b);
    const double scale = std::max(1.0, max_abs(ra)), worst = max_diff(ra, rb);
    BOOST_TEST_MESSAGE("max |quantized - fp32| logit = " << worst << ", max |logit| " << scale);
    BOOST_CHECK_LE(worst, order_tol * scale);
    BOOST_CHECK_GT(worst, 0.0);  // the blocks are what B read (its sums differ in order)
    // Back to fp32: B is A bit for bit.
    b.set_inference_weights(lm::weight_storage::fp32);
    BOOST_TEST(b.inference_copy_bytes() == 0u);
    BOOST_CHECK(run_inference(b) == ra);
}

BOOST_AUTO_TEST_CASE(greedy_continuation_is_the_fp32_one) {
    auto a = fp32_model();
    auto b = quantized_model();
    const index_t steps = 20;
    const auto ga = greedy(a, steps), gb = greedy(b, steps);
    const double scale = std::max(1.0, max_abs(ga.logits));
    index_t same = 0;
    while (same < steps && ga.tokens[std::size_t(same)] == gb.tokens[std::size_t(same)]) ++same;
    BOOST_TEST_MESSAGE("greedy agrees for " << same << " of " << steps << " tokens");
    // A divergence is only legitimate where A's best two are within the summation-order noise.
    if (same < steps) BOOST_CHECK_LE(ga.margins[std::size_t(same)], 2 * order_tol * scale);
    else BOOST_CHECK_LE(max_diff(ga.logits, gb.logits), order_tol * scale);
}

BOOST_AUTO_TEST_CASE(decode_does_not_depend_on_thread_count) {
    // Each output element is one thread's sum in a fixed order.
    auto one = quantized_model(lethe::par.with_threads(1));
    auto two = quantized_model(lethe::par.with_threads(2));
    const auto g1 = greedy(one, 8), g2 = greedy(two, 8);
    BOOST_CHECK(g1.logits == g2.logits);
}

BOOST_AUTO_TEST_CASE(misuse_throws) {
    auto a = fp32_model();
    BOOST_TEST(lethe_test::error_of([&] { a.set_inference_weights(lm::weight_storage::quantized); })
                   .find("come from a reader") != std::string::npos);
    const auto good = gguf_llama_quantized_weights(file(), a.params().layout());
    auto wrong_count = good;
    wrong_count.matrices.pop_back();
    BOOST_TEST(lethe_test::error_of([&] { a.set_inference_weights(wrong_count); }).find("tensors, the model has") !=
               std::string::npos);
    const auto& L = a.params().layout().tensors();
    std::size_t first = 0;
    while (!good.matrices[first]) ++first;
    auto wrong_shape = good;
    wrong_shape.matrices[first].rows -= 1;
    BOOST_TEST(lethe_test::error_of([&] { a.set_inference_weights(wrong_shape); }).find(L[first].name) !=
               std::string::npos);
    auto wrong_bytes = good;
    wrong_bytes.matrices[first].row_bytes += 2;
    BOOST_TEST(lethe_test::error_of([&] { a.set_inference_weights(wrong_bytes); }).find("do not make rows of") !=
               std::string::npos);
    auto on_vector = good;
    std::size_t vec = 0;
    while (!L[vec].is_vector) ++vec;
    on_vector.matrices[vec] = good.matrices[first];
    BOOST_TEST(lethe_test::error_of([&] { a.set_inference_weights(on_vector); }).find("a vector has no quantised form") !=
               std::string::npos);
    // None of that changed A's storage; good weights switch it, and the
    // enum re-selects them; bf16 releases them.
    BOOST_CHECK(a.inference_weights() == lm::weight_storage::fp32);
    a.set_inference_weights(good);
    a.set_inference_weights(lm::weight_storage::quantized);
    BOOST_CHECK(a.inference_weights() == lm::weight_storage::quantized);
    a.set_inference_weights(lm::weight_storage::bf16);
    BOOST_TEST(a.inference_copy_bytes() == std::size_t(a.params().layout().total_size()) * 2);
    BOOST_CHECK_THROW(a.set_inference_weights(lm::weight_storage::quantized), lethe::error);
}

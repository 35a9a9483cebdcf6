// Sequence log-probs and the token-level NLL: values against a naive double
// log-softmax, gradients against finite differences, bad input rejected with
// the row named, in-place gradients equal to out-of-place ones.
#define BOOST_TEST_MODULE sequence_logprobs
#include "loss_test_support.hpp"

#include <lethe/backend/eigen.hpp>

using namespace lethe;
using loss_test::batch;

namespace {

// Naive log softmax of one row in long double.
double naive_logp(const double* x, index_t v, std::int32_t t) {
    long double m = x[0];
    for (index_t j = 1; j < v; ++j) m = std::max<long double>(m, x[j]);
    long double s = 0;
    for (index_t j = 0; j < v; ++j) s += std::exp(static_cast<long double>(x[j]) - m);
    return static_cast<double>(static_cast<long double>(x[t]) - m - std::log(s));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sequence_logprobs)

BOOST_AUTO_TEST_CASE(forward_matches_naive_log_softmax) {
    batch<double> b(5, 7, 33, 1);
    loss::host_loss_workspace<double> ws(b.rows * b.len, b.rows);
    const auto w = ws.view();
    loss::sequence_logprobs(par, b.token_batch(), w);
    for (index_t r = 0; r < b.rows; ++r) {
        double cs = 0, cn = 0, as = 0, an = 0;
        for (index_t t = 0; t < b.len; ++t) {
            const index_t n = r * b.len + t;
            const auto k = b.mask[static_cast<std::size_t>(n)];
            if (k == 0) {
                BOOST_CHECK_EQUAL(w.logp(n), 0.0);
                continue;
            }
            const double lp = naive_logp(&b.logits[static_cast<std::size_t>(n * b.vocab)], b.vocab,
                                         b.targets[static_cast<std::size_t>(n)]);
            // double log-sum-exp of 33 terms: rounding ~ 1e-15 relative.
            LETHE_CHECK_CLOSE(w.logp(n), lp, 1e-13, 1e-14);
            as += lp;
            an += 1;
            if (k == 1) cs += lp, cn += 1;
        }
        LETHE_CHECK_CLOSE(w.stats.completion_sum(r), cs, 1e-12, 1e-13);
        BOOST_CHECK_EQUAL(w.stats.completion_tokens(r), cn);
        LETHE_CHECK_CLOSE(w.stats.all_sum(r), as, 1e-12, 1e-13);
        BOOST_CHECK_EQUAL(w.stats.all_tokens(r), an);
    }
}

BOOST_AUTO_TEST_CASE(packed_layout_gives_the_padded_numbers) {
    batch<float> b(4, 9, 50, 2);
    // Pack: drop the padding of each row.
    std::vector<float> pl;
    std::vector<std::int32_t> pt;
    std::vector<std::uint8_t> pm;
    std::vector<index_t> off{0};
    for (index_t r = 0; r < b.rows; ++r) {
        for (index_t t = 0; t < b.len; ++t) {
            const auto n = static_cast<std::size_t>(r * b.len + t);
            if (b.mask[n] == 0) continue;
            pl.insert(pl.end(), b.logits.begin() + static_cast<std::ptrdiff_t>(n * 50),
                      b.logits.begin() + static_cast<std::ptrdiff_t>((n + 1) * 50));
            pt.push_back(b.targets[n]);
            pm.push_back(b.mask[n]);
        }
        off.push_back(static_cast<index_t>(pt.size()));
    }
    const index_t N = static_cast<index_t>(pt.size());
    auto packed = loss::make_token_batch(make_view(pl.data(), N, 50), make_view(pt.data(), N), make_view(pm.data(), N),
                                         make_view(off.data(), b.rows + 1));
    loss::host_loss_workspace<float> wp(N, b.rows), wd(b.rows * b.len, b.rows);
    loss::sequence_logprobs(seq, packed, wp.view());
    loss::sequence_logprobs(seq, b.token_batch(), wd.view());
    for (index_t r = 0; r < b.rows; ++r) {
        // Same kernel, same token order: bit-identical sums.
        BOOST_CHECK_EQUAL(wp.view().stats.completion_sum(r), wd.view().stats.completion_sum(r));
        BOOST_CHECK_EQUAL(wp.view().stats.all_tokens(r), wd.view().stats.all_tokens(r));
    }
    // row_of on the packed layout finds the owner of every token.
    for (index_t r = 0; r < b.rows; ++r)
        for (index_t n = off[static_cast<std::size_t>(r)]; n < off[static_cast<std::size_t>(r) + 1]; ++n)
            BOOST_CHECK_EQUAL(packed.layout.row_of(n), r);
}

BOOST_AUTO_TEST_CASE(nll_value_and_gradient_match_finite_differences) {
    batch<double> b(3, 6, 17, 3);
    std::vector<double> grad(b.logits.size());
    const auto res = loss::nll(seq, b.logits_view(), b.targets_view(), b.mask_view(),
                               make_view(grad.data(), b.rows, b.len, b.vocab));
    double ref = 0;
    index_t m = 0;
    for (index_t n = 0; n < b.rows * b.len; ++n)
        if (b.mask[static_cast<std::size_t>(n)] != 0) {
            ref -= naive_logp(&b.logits[static_cast<std::size_t>(n * b.vocab)], b.vocab, b.targets[static_cast<std::size_t>(n)]);
            ++m;
        }
    BOOST_CHECK_EQUAL(res.tokens, m);
    LETHE_CHECK_CLOSE(res.loss, ref / static_cast<double>(m), 1e-13, 0.0);  // double rounding only
    const double err = loss_test::fd_relative_error(b.logits, grad, [&] {
        return loss::nll(seq, b.logits_view(), b.targets_view(), b.mask_view()).loss;
    });
    BOOST_TEST_MESSAGE("nll finite-difference relative error " << err);
    BOOST_CHECK_LE(err, 1e-6);  // the bound
    // Ignored tokens get exactly zero gradient.
    for (index_t n = 0; n < b.rows * b.len; ++n)
        if (b.mask[static_cast<std::size_t>(n)] == 0)
            for (index_t j = 0; j < b.vocab; ++j) BOOST_CHECK_EQUAL(grad[static_cast<std::size_t>(n * b.vocab + j)], 0.0);
}

BOOST_AUTO_TEST_CASE(nll_in_place_equals_out_of_place_and_policies_agree) {
    batch<float> b(4, 8, 300, 4);
    std::vector<float> grad(b.logits.size());
    const auto r1 = loss::nll(seq, b.logits_view(), b.targets_view(), b.mask_view(),
                              make_view(grad.data(), b.rows, b.len, b.vocab));
    const auto r2 = loss::nll(par.with_threads(2), b.logits_view(), b.targets_view(), b.mask_view());
    // The per-token sums are combined in a different order under 2 threads:
    // float-to-double rounding of 32 terms, ~1e-7 relative at most.
    LETHE_CHECK_CLOSE(r2.loss, r1.loss, 1e-6, 0.0);
    auto x = b.logits_view();
    const auto r3 = loss::nll(par, x, b.targets_view(), b.mask_view(), x);  // in place
    LETHE_CHECK_CLOSE(r3.loss, r1.loss, 1e-6, 0.0);
    // Same kernel per row: bit-identical gradients.
    BOOST_CHECK(std::equal(grad.begin(), grad.end(), b.logits.begin()));
}

BOOST_AUTO_TEST_CASE(gradient_rows_sum_to_zero_and_backward_matches_nll) {
    // sequence_logprobs_backward with coef = -1/M per token is the NLL gradient.
    batch<double> b(3, 5, 21, 5);
    loss::host_loss_workspace<double> ws(b.rows * b.len, b.rows);
    auto w = ws.view();
    const auto tb = b.token_batch();
    loss::sequence_logprobs(seq, tb, w);
    index_t m = 0;
    for (auto k : b.mask) m += k != 0;
    for (index_t r = 0; r < b.rows; ++r) w.coef_completion(r) = w.coef_prompt(r) = -1.0 / static_cast<double>(m);
    std::vector<double> g1(b.logits.size()), g2(b.logits.size());
    loss::sequence_logprobs_backward(seq, tb, w, make_view(g1.data(), b.rows * b.len, b.vocab));
    loss::nll(seq, b.logits_view(), b.targets_view(), b.mask_view(), make_view(g2.data(), b.rows, b.len, b.vocab));
    for (std::size_t i = 0; i < g1.size(); ++i) BOOST_CHECK_EQUAL(g1[i], g2[i]);
    for (index_t n = 0; n < b.rows * b.len; ++n) {
        double s = 0;
        for (index_t j = 0; j < b.vocab; ++j) s += g1[static_cast<std::size_t>(n * b.vocab + j)];
        BOOST_CHECK_SMALL(s, 1e-15);  // softmax sums to 1 up to double rounding
    }
}

BOOST_AUTO_TEST_CASE(bad_input_names_the_row) {
    batch<float> b(3, 4, 10, 6);
    // NaN in row 1, position 3 (a completion token).
    auto bad = b;
    bad.logits[static_cast<std::size_t>((1 * 4 + 3) * 10 + 5)] = std::numeric_limits<float>::quiet_NaN();
    bad.mask[1 * 4 + 3] = 1;
    std::string m = loss_test::error_of([&] { loss::nll(seq, bad.logits_view(), bad.targets_view(), bad.mask_view()); });
    BOOST_CHECK_MESSAGE(m.find("position 7") != std::string::npos && m.find("non-finite") != std::string::npos, m);
    loss::host_loss_workspace<float> ws(12, 3);
    m = loss_test::error_of([&] { loss::sequence_logprobs(seq, bad.token_batch(), ws.view()); });
    BOOST_CHECK_MESSAGE(m.find("row 1, position 3") != std::string::npos, m);
    // The opt-out skips the NaN scan (and the NaN reaches the sums).
    loss::sequence_logprobs(seq, bad.token_batch(), ws.view(), loss::loss_options{false});
    BOOST_CHECK(std::isnan(ws.view().stats.all_sum(1)));
    // +Inf too.
    bad.logits[static_cast<std::size_t>((1 * 4 + 3) * 10 + 5)] = std::numeric_limits<float>::infinity();
    m = loss_test::error_of([&] { loss::sequence_logprobs(seq, bad.token_batch(), ws.view()); });
    BOOST_CHECK_MESSAGE(m.find("row 1, position 3") != std::string::npos, m);
    // Target out of range in row 2, position 0.
    auto bt = b;
    bt.targets[2 * 4 + 0] = 10;
    m = loss_test::error_of([&] { loss::sequence_logprobs(par, bt.token_batch(), ws.view(), loss::loss_options{false}); });
    BOOST_CHECK_MESSAGE(m.find("row 2, position 0") != std::string::npos && m.find("target id 10") != std::string::npos, m);
    bt.targets[2 * 4 + 0] = -1;
    m = loss_test::error_of([&] { loss::nll(seq, bt.logits_view(), bt.targets_view(), bt.mask_view()); });
    BOOST_CHECK_MESSAGE(m.find("target id -1") != std::string::npos, m);
    // NaN in an ignored (padding) token is fine: it is never read.
    auto bp = b;
    bp.mask[0] = 0;
    bp.logits[0] = std::numeric_limits<float>::quiet_NaN();
    BOOST_CHECK(std::isfinite(loss::nll(seq, bp.logits_view(), bp.targets_view(), bp.mask_view()).loss));
    // Empty mask, shape mismatch.
    std::vector<std::uint8_t> zeros(12, 0);
    m = loss_test::error_of([&] { loss::nll(seq, b.logits_view(), b.targets_view(), make_view(zeros.data(), 3, 4)); });
    BOOST_CHECK_MESSAGE(m.find("no token is counted") != std::string::npos, m);
    std::vector<float> g(3 * 4 * 9);
    m = loss_test::error_of([&] { loss::nll(seq, b.logits_view(), b.targets_view(), b.mask_view(), make_view(g.data(), 3, 4, 9)); });
    BOOST_CHECK_MESSAGE(m.find("dlogits and logits differ in dimension 2") != std::string::npos, m);
    loss::host_loss_workspace<float> small(11, 3);
    m = loss_test::error_of([&] { loss::sequence_logprobs(seq, b.token_batch(), small.view()); });
    BOOST_CHECK_MESSAGE(m.find("workspace.lse") != std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(eigen_matrices_work_through_views) {
    batch<float> b(2, 3, 40, 7);
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> x =
        Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(b.logits.data(), 6, 40);
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> g(6, 40);
    const auto r = loss::nll(seq, view_of(x), make_view(b.targets.data(), 6), make_view(b.mask.data(), 6), view_of(g));
    const auto r0 = loss::nll(seq, b.logits_view(), b.targets_view(), b.mask_view());
    BOOST_CHECK_EQUAL(r.loss, r0.loss);
    // Column-major storage (non-unit inner stride) takes the strided path:
    // same math, rounding differs only through exp_fast vs. the scalar path.
    Eigen::MatrixXf xc = x;
    const auto rc = loss::nll(seq, view_of(xc), make_view(b.targets.data(), 6), make_view(b.mask.data(), 6));
    LETHE_CHECK_CLOSE(rc.loss, r0.loss, 1e-6, 0.0);  // float exp vs exp_fast: ~2e-7 per term
}

BOOST_AUTO_TEST_CASE(large_rows_streamed_gradient_matches_reference) {
    // V = 5003 floats (20 KB) per row: a separate gradient buffer is written
    // with streaming stores after a scalar head up to vector alignment (the
    // odd row length puts every row at a different alignment); in place it
    // takes normal stores. Both must give -g (softmax - onehot) to the
    // accuracy of the float exp (2e-7 relative, test_numerics) plus the
    // rounding of x - lse (|x - lse| ~ 10: 1e-6 relative), and prompt /
    // padding rows must be exactly zero over a buffer that held NaN.
    const index_t rows = 2, len = 5, V = 5003;
    batch<float> b(rows, len, V, 11, 2, 3.0);
    const index_t n_tok = rows * len;
    loss::host_loss_workspace<float> ws(n_tok, rows);
    auto w = ws.view();
    loss::sequence_logprobs(seq, b.token_batch(), w);
    for (index_t r = 0; r < rows; ++r) {
        w.coef_completion(r) = -0.25f - 0.5f * static_cast<float>(r);
        w.coef_prompt(r) = 0.0f;
    }
    std::vector<float> g(b.logits.size(), std::numeric_limits<float>::quiet_NaN());
    loss::sequence_logprobs_backward(par, b.token_batch(), w, make_view(g.data(), n_tok, V));
    std::vector<float> inplace = b.logits;
    auto bi = loss::make_token_batch(make_view(static_cast<const float*>(inplace.data()), rows, len, V), b.targets_view(),
                                     b.mask_view());
    loss::sequence_logprobs_backward(par, bi, w, make_view(inplace.data(), n_tok, V));
    double worst = 0;
    index_t zero_rows = 0;
    for (index_t n = 0; n < n_tok; ++n) {
        const auto k = b.mask[static_cast<std::size_t>(n)];
        const float* x = &b.logits[static_cast<std::size_t>(n * V)];
        const float* gs = &g[static_cast<std::size_t>(n * V)];
        const float* gi = &inplace[static_cast<std::size_t>(n * V)];
        if (k != loss::token_kind::completion) {
            ++zero_rows;
            for (index_t j = 0; j < V; ++j) BOOST_REQUIRE(gs[j] == 0.0f && gi[j] == 0.0f);
            continue;
        }
        const double gn = w.coef_completion(n / len);
        double m = x[0];
        for (index_t j = 1; j < V; ++j) m = std::max(m, static_cast<double>(x[j]));
        double s = 0;
        for (index_t j = 0; j < V; ++j) s += std::exp(x[j] - m);
        const auto t = b.targets[static_cast<std::size_t>(n)];
        for (index_t j = 0; j < V; ++j) {
            const double p = std::exp(x[j] - m) / s;
            const double want = -gn * (p - (j == t ? 1.0 : 0.0));
            const double scale = std::abs(want) + 1e-30;
            worst = std::max({worst, std::abs(gs[j] - want) / scale, std::abs(gi[j] - want) / scale});
        }
    }
    BOOST_TEST_MESSAGE("streamed gradient worst relative error: " << worst);
    BOOST_CHECK_GT(zero_rows, 0);
    BOOST_CHECK_LT(worst, 2e-6);
}

BOOST_AUTO_TEST_SUITE_END()

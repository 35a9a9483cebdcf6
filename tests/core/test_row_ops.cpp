// Every row primitive gives the same result on every policy and container.
// Tolerances: against a double reference, float rows of up to 1000 values sum
// with rounding error below ~1e-6 relative (exp_fast adds ~2e-7); the same
// kernel on the same data gives bit-identical rows whatever the policy or
// thread count, because each row is computed by one thread in one order.
#define BOOST_TEST_MODULE row_ops
#include <lethe/core.hpp>
#include <lethe/backend/eigen.hpp>
#include <lethe/backend/xtensor.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include <limits>

#include "lethe_test.hpp"

using namespace lethe;

namespace {

constexpr index_t R = 37, C = 1000;  // C is not a multiple of the 256-element block

struct reference {
    std::vector<double> max, sum, lse;
};

reference make_reference(const std::vector<float>& x) {
    reference r;
    for (index_t i = 0; i < R; ++i) {
        double m = -std::numeric_limits<double>::infinity(), s = 0;
        for (index_t j = 0; j < C; ++j) {
            m = std::max(m, static_cast<double>(x[i * C + j]));
            s += x[i * C + j];
        }
        double e = 0;
        for (index_t j = 0; j < C; ++j) e += std::exp(static_cast<double>(x[i * C + j]) - m);
        r.max.push_back(m);
        r.sum.push_back(s);
        r.lse.push_back(m + std::log(e));
    }
    return r;
}

std::vector<float> make_data() {
    auto x = lethe_test::random_normal<float>(R * C, 42, 4.0);
    // Edge rows: huge values, very negative values, a row with -inf entries.
    for (index_t j = 0; j < C; ++j) {
        x[1 * C + j] += 80.0f;
        x[2 * C + j] -= 120.0f;
        if (j % 3 == 0) x[3 * C + j] = -std::numeric_limits<float>::infinity();
    }
    return x;
}

template <class P, class X>
void check_policy(const P& pol, const X& xv, const reference& ref, std::vector<float>& lse_out) {
    std::vector<float> mx(R), sm(R), lse(R);
    row_max(pol, xv, make_view(mx.data(), R));
    row_sum(pol, xv, make_view(sm.data(), R));
    row_logsumexp(pol, xv, make_view(lse.data(), R));
    for (index_t i = 0; i < R; ++i) {
        LETHE_CHECK_CLOSE(mx[i], ref.max[i], 0.0, 0.0);
        LETHE_CHECK_CLOSE(sm[i], ref.sum[i], 1e-5, 1e-3);  // 1000 float adds of |x|~4
        LETHE_CHECK_CLOSE(lse[i], ref.lse[i], 1e-6, 1e-5);
    }
    lse_out = lse;
}

template <class X>
void check_all_policies(const X& xv, const reference& ref) {
    std::vector<float> a, b, c;
    check_policy(seq, xv, ref, a);
    check_policy(par, xv, ref, b);
    check_policy(par.with_threads(1), xv, ref, c);
    BOOST_CHECK(a == b);  // bit-identical across policies and thread counts
    BOOST_CHECK(a == c);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(row_ops)

BOOST_AUTO_TEST_CASE(raw_view) {
    const auto x = make_data();
    const auto ref = make_reference(x);
    check_all_policies(make_view(x.data(), R, C), ref);
}

BOOST_AUTO_TEST_CASE(eigen_row_and_column_major) {
    const auto x = make_data();
    const auto ref = make_reference(x);
    using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const RowMat rm = Eigen::Map<const RowMat>(x.data(), R, C);
    const Eigen::MatrixXf cm = rm;  // column-major: rows are strided
    check_all_policies(view_of(rm), ref);
    check_all_policies(view_of(cm), ref);
    check_all_policies(view_of(Eigen::Map<const RowMat>(x.data(), R, C)), ref);
    const Eigen::Ref<const Eigen::MatrixXf> r = cm;
    check_all_policies(view_of(r), ref);
}

BOOST_AUTO_TEST_CASE(xtensor_containers) {
    const auto x = make_data();
    const auto ref = make_reference(x);
    xt::xtensor<float, 2> t = xt::adapt(x, std::vector<std::size_t>{static_cast<std::size_t>(R), static_cast<std::size_t>(C)});
    check_all_policies(view_of(t), ref);
    xt::xtensor<float, 2, xt::layout_type::column_major> tc = t;
    check_all_policies(view_of(tc), ref);
    xt::xarray<float> a = t;
    check_all_policies(view_of<2>(a), ref);
    auto ad = xt::adapt(x.data(), x.size(), xt::no_ownership(), std::array<std::size_t, 2>{R, C});
    check_all_policies(view_of(ad), ref);
}

BOOST_AUTO_TEST_CASE(log_softmax_and_softmax) {
    const auto x = make_data();
    const auto ref = make_reference(x);
    std::vector<float> y(x.size()), p(x.size());
    row_log_softmax(par, make_view(x.data(), R, C), make_view(y.data(), R, C));
    row_softmax(seq, make_view(x.data(), R, C), make_view(p.data(), R, C));
    for (index_t i = 0; i < R; ++i) {
        double total = 0;
        for (index_t j = 0; j < C; ++j) {
            const double want = x[i * C + j] - ref.lse[i];
            if (std::isinf(want)) {
                BOOST_CHECK(std::isinf(y[i * C + j]) && p[i * C + j] == 0.0f);
                continue;
            }
            LETHE_CHECK_CLOSE(y[i * C + j], want, 1e-6, 2e-5);
            total += p[i * C + j];
        }
        LETHE_CHECK_CLOSE(total, 1.0, 1e-5, 0.0);
    }
    // In place gives the same as out of place.
    std::vector<float> z = x;
    row_log_softmax(seq, make_view(z.data(), R, C), make_view(z.data(), R, C));
    BOOST_CHECK(z == y);
}

BOOST_AUTO_TEST_CASE(edge_rows) {
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    // Long rows (> one block) so the vectorised path runs: all -inf; +inf;
    // NaN in the last block; NaN after a block of all -inf.
    const index_t n = 600;
    std::vector<float> x(4 * n, -inf);
    x[1 * n + 10] = inf;
    for (index_t j = 0; j < n; ++j) x[2 * n + j] = 0.0f;
    x[2 * n + 599] = nan;
    x[3 * n + 599] = nan;
    std::vector<float> lse(4), mx(4);
    row_logsumexp(seq, make_view(x.data(), 4, n), make_view(lse.data(), 4));
    row_max(seq, make_view(x.data(), 4, n), make_view(mx.data(), 4));
    BOOST_CHECK_EQUAL(lse[0], -inf);
    BOOST_CHECK_EQUAL(lse[1], inf);
    BOOST_CHECK(std::isnan(lse[2]));
    BOOST_CHECK(std::isnan(lse[3]));
    BOOST_CHECK_EQUAL(mx[0], -inf);
    BOOST_CHECK(std::isnan(mx[2]));
}

BOOST_AUTO_TEST_CASE(transform_elementwise_all_ranks) {
    std::vector<double> a(24), b(24);
    for (int i = 0; i < 24; ++i) a[i] = i;
    transform(par, make_view(a.data(), 24), make_view(b.data(), 24), [](double v) { return 2 * v; });
    BOOST_CHECK_EQUAL(b[23], 46.0);
    transform(seq, make_view(a.data(), 4, 6), make_view(b.data(), 4, 6), [](double v) { return v + 1; });
    BOOST_CHECK_EQUAL(b[23], 24.0);
    transform(par, make_view(a.data(), 2, 3, 4), make_view(b.data(), 2, 3, 4), [](double v) { return -v; });
    BOOST_CHECK_EQUAL(b[23], -23.0);
    BOOST_CHECK_THROW(transform(seq, make_view(a.data(), 4, 6), make_view(b.data(), 6, 4), [](double v) { return v; }),
                      lethe::error);
}

BOOST_AUTO_TEST_CASE(reductions_are_deterministic_per_thread_count) {
    const auto x = lethe_test::random_normal<double>(100003, 3);
    auto sum_with = [&](const auto& pol) {
        return pol.transform_reduce(static_cast<index_t>(x.size()), 0.0, [&](index_t i) { return x[static_cast<std::size_t>(i)]; },
                                    [](double p, double q) { return p + q; });
    };
    const double s1 = sum_with(par.with_threads(2));
    const double s2 = sum_with(par.with_threads(2));
    BOOST_CHECK_EQUAL(s1, s2);
    LETHE_CHECK_CLOSE(sum_with(seq), s1, 1e-12, 1e-9);
}

BOOST_AUTO_TEST_CASE(wrong_output_shape_throws) {
    std::vector<float> x(12), out(3);
    BOOST_CHECK_THROW(row_logsumexp(seq, make_view(x.data(), 4, 3), make_view(out.data(), 3)), lethe::error);
}

BOOST_AUTO_TEST_SUITE_END()

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

#include <algorithm>
#include <bit>
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

namespace {
double reference_lse(const float* x, index_t n) {
    double m = -std::numeric_limits<double>::infinity();
    for (index_t j = 0; j < n; ++j) m = std::max(m, static_cast<double>(x[j]));
    if (!std::isfinite(m)) return m;
    double s = 0;
    for (index_t j = 0; j < n; ++j) s += std::exp(static_cast<double>(x[j]) - m);
    return m + std::log(s);
}
float lse_of(const std::vector<float>& x) {
    float out = 0;
    row_logsumexp(seq, make_view(x.data(), 1, static_cast<index_t>(x.size())), make_view(&out, 1));
    return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(logsumexp_every_length_and_block_path) {
    // Lengths around the vector width and the 1024-float block of the
    // pipelined float kernel (one block, several, a remainder, a padded
    // tail), on N(0, 3) data shifted by -50, 0 and +50, and on a rising
    // ramp whose max is always in the newest block (every lane rescales at
    // every block). Tolerance: the exp is within 2e-7 relative
    // (test_numerics) and each lane sums <= 6144 terms in float through
    // per-block partials of <= 64 terms, so the sum is within ~1e-6
    // relative, which is lse's absolute error; on top comes the rounding of
    // lse itself (half an ulp: 1.9e-6 at lse ~ 60). Measured worst: 3.3e-6
    // at lse ~ 60.
    const index_t lengths[] = {1, 3, 7, 8, 9, 15, 17, 100, 1023, 1024, 1025, 1031, 2048, 2049, 3000, 4096, 49152 + 5};
    double worst = 0;
    for (index_t n : lengths) {
        for (float shift : {-50.0f, 0.0f, 50.0f}) {
            auto x = lethe_test::random_normal<float>(static_cast<std::size_t>(n), static_cast<std::uint32_t>(n), 3.0, shift);
            const double want = reference_lse(x.data(), n);
            const float got = lse_of(x);
            worst = std::max(worst, std::abs(got - want));
            LETHE_CHECK_CLOSE(got, want, 0.0, 2e-6 + 1e-7 * std::abs(want));  // + float rounding of lse itself
        }
        std::vector<float> ramp(static_cast<std::size_t>(n));
        for (index_t j = 0; j < n; ++j) ramp[static_cast<std::size_t>(j)] = 0.01f * static_cast<float>(j);
        LETHE_CHECK_CLOSE(lse_of(ramp), reference_lse(ramp.data(), n), 0.0, 2e-6 + 1e-7 * 0.01 * static_cast<double>(n));
    }
    BOOST_TEST_MESSAGE("row_logsumexp worst absolute error: " << worst);
}

BOOST_AUTO_TEST_CASE(logsumexp_edges_in_every_block_position) {
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    // A NaN whose payload has low bits set, and a negative NaN: the vector
    // exp builds 2^n from bit patterns, which must not turn them into numbers.
    const float nan_payload = std::bit_cast<float>(0x7fc00001u);
    const float nan_negative = std::bit_cast<float>(0xffc00000u);
    const index_t n = 3000;  // two full blocks (pipelined), then 952 = 119 vectors
    for (index_t pos : {index_t(0), index_t(5), index_t(1023), index_t(1024), index_t(2047), index_t(2500), n - 1}) {
        for (float bad : {nan, nan_payload, nan_negative}) {
            auto x = lethe_test::random_normal<float>(static_cast<std::size_t>(n), 9, 3.0);
            x[static_cast<std::size_t>(pos)] = bad;
            BOOST_CHECK_MESSAGE(std::isnan(lse_of(x)), "NaN at " << pos);
            // The same after -inf everywhere else (the NaN lane shifts by 0).
            std::fill(x.begin(), x.end(), -inf);
            x[static_cast<std::size_t>(pos)] = bad;
            BOOST_CHECK_MESSAGE(std::isnan(lse_of(x)), "NaN among -inf at " << pos);
        }
        auto x = lethe_test::random_normal<float>(static_cast<std::size_t>(n), 10, 3.0);
        x[static_cast<std::size_t>(pos)] = inf;
        BOOST_CHECK_EQUAL(lse_of(x), inf);
        x[static_cast<std::size_t>((pos + 1500) % n)] = nan;  // NaN wins over +inf
        BOOST_CHECK(std::isnan(lse_of(x)));
        // One finite value among -inf: lse is that value exactly.
        std::fill(x.begin(), x.end(), -inf);
        x[static_cast<std::size_t>(pos)] = 2.5f;
        BOOST_CHECK_EQUAL(lse_of(x), 2.5f);
    }
    // Only lane 0 of each vector is finite: the other lanes stay at -inf
    // through every block and must add nothing.
    std::vector<float> x(static_cast<std::size_t>(n), -inf);
    for (index_t j = 0; j < n; j += 16) x[static_cast<std::size_t>(j)] = 1.0f;
    LETHE_CHECK_CLOSE(lse_of(x), 1.0 + std::log(static_cast<double>((n + 15) / 16)), 0.0, 2e-6);
    // Entries far below the max (exp underflows to 0) leave lse unchanged.
    std::fill(x.begin(), x.end(), -1000.0f);
    x[1500] = 0.0f;
    BOOST_CHECK_EQUAL(lse_of(x), 0.0f);
    // All -inf: -inf.
    std::fill(x.begin(), x.end(), -inf);
    BOOST_CHECK_EQUAL(lse_of(x), -inf);
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

// The thrust policy (CPP and OMP systems of Debian's thrust) gives the same
// rows as lethe's own policies, on thrust host and device vectors. Rows are
// computed by the same kernel, so results are bit-identical.
#define BOOST_TEST_MODULE thrust_backend
#include <lethe/core.hpp>
#include <lethe/backend/thrust.hpp>

#include "lethe_test.hpp"

using namespace lethe;

BOOST_AUTO_TEST_SUITE(thrust_backend)

BOOST_AUTO_TEST_CASE(row_primitives_match_across_policies) {
    constexpr index_t R = 64, C = 777;
    const auto x = lethe_test::random_normal<float>(R * C, 11, 3.0);
    thrust::host_vector<float> hx(x.begin(), x.end());
    thrust::device_vector<float> dx = hx;  // host memory under the OMP device system
    static_assert(std::is_same_v<thrust_device_space, host_space>);

    std::vector<float> ref(R);
    row_logsumexp(seq, make_view(x.data(), R, C), make_view(ref.data(), R));

    thrust::host_vector<float> h_out(R);
    row_logsumexp(thrust_cpp(), view_of(std::as_const(hx), R, C), view_of(h_out));
    thrust::device_vector<float> d_out(R);
    row_logsumexp(thrust_omp(), view_of(std::as_const(dx), R, C), view_of(d_out));
    thrust::host_vector<float> d_back = d_out;
    for (index_t i = 0; i < R; ++i) {
        BOOST_CHECK_EQUAL(h_out[static_cast<std::size_t>(i)], ref[static_cast<std::size_t>(i)]);
        BOOST_CHECK_EQUAL(d_back[static_cast<std::size_t>(i)], ref[static_cast<std::size_t>(i)]);
    }

    thrust::device_vector<float> mx(R), sm(R);
    row_max(thrust_omp(), view_of(std::as_const(dx), R, C), view_of(mx));
    row_sum(thrust_omp(), view_of(std::as_const(dx), R, C), view_of(sm));
    std::vector<float> mx_ref(R), sm_ref(R);
    row_max(par, make_view(x.data(), R, C), make_view(mx_ref.data(), R));
    row_sum(par, make_view(x.data(), R, C), make_view(sm_ref.data(), R));
    for (index_t i = 0; i < R; ++i) {
        BOOST_CHECK_EQUAL(mx[static_cast<std::size_t>(i)], mx_ref[static_cast<std::size_t>(i)]);
        BOOST_CHECK_EQUAL(sm[static_cast<std::size_t>(i)], sm_ref[static_cast<std::size_t>(i)]);
    }
}

BOOST_AUTO_TEST_CASE(transform_reduce_through_thrust) {
    const index_t n = 10000;
    const double s = thrust_omp().transform_reduce(n, 0.0, [] (index_t i) { return static_cast<double>(i); },
                                                   thrust::plus<double>());
    BOOST_CHECK_EQUAL(s, 0.5 * n * (n - 1));  // exact: integers below 2^53
}

BOOST_AUTO_TEST_CASE(reshape_checks_size) {
    thrust::host_vector<float> v(10);
    BOOST_CHECK_THROW(view_of(v, 3, 4), lethe::error);
    auto m = view_of(v, 2, 5);
    BOOST_CHECK_EQUAL(m.extent(1), 5);
}

BOOST_AUTO_TEST_SUITE_END()

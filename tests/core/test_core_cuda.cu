// Core primitives on a real GPU through thrust's CUDA system: the same row
// kernels as the host, so results agree with the host within float rounding
// (device expf/logf differ from the host's exp_fast by a few ulps).
#define BOOST_TEST_MODULE core_cuda
#include <lethe/core.hpp>
#include <lethe/backend/thrust.hpp>

#include "lethe_test.hpp"

using namespace lethe;

BOOST_AUTO_TEST_SUITE(core_cuda)

BOOST_AUTO_TEST_CASE(row_logsumexp_matches_host) {
    constexpr index_t R = 512, C = 4099;
    const auto x = lethe_test::random_normal<float>(R * C, 5, 4.0);
    thrust::device_vector<float> dx(x.begin(), x.end());
    thrust::device_vector<float> dout(R);
    static_assert(std::is_same_v<thrust_device_space, device_space>);
    row_logsumexp(thrust_cuda(), view_of(std::as_const(dx), R, C), view_of(dout));
    std::vector<float> host(R);
    row_logsumexp(seq, make_view(x.data(), R, C), make_view(host.data(), R));
    thrust::host_vector<float> back = dout;
    for (index_t i = 0; i < R; ++i) LETHE_CHECK_CLOSE(back[i], host[i], 2e-6, 1e-5);
}

BOOST_AUTO_TEST_SUITE_END()

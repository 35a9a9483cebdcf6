// CFG combiners and the sampler chain on a GPU through thrust's CUDA system.
// The kernels are the host ones; the device expf/logf differ from the host's
// exp_fast by a few ulps, so combined rows agree within float rounding and
// tokens agree exactly where no exp is involved (greedy) and for all but a
// few rows whose uniform draw lands within rounding of a CDF boundary.
#define BOOST_TEST_MODULE guidance_cuda
#include <lethe/guidance.hpp>
#include <lethe/backend/thrust.hpp>

#include <numeric>

#include "lethe_test.hpp"

using namespace lethe;
using namespace lethe::guidance;

BOOST_AUTO_TEST_SUITE(guidance_cuda)

BOOST_AUTO_TEST_CASE(cfg_rows_match_host) {
    constexpr index_t R = 64, V = 4099;
    const auto c = lethe_test::random_normal<float>(R * V, 51, 3.0);
    const auto n = lethe_test::random_normal<float>(R * V, 52, 3.0);
    thrust::device_vector<float> dc(c.begin(), c.end()), dn(n.begin(), n.end()), dout(R * V);
    static_assert(std::is_same_v<thrust_device_space, device_space>);
    for (auto sp : {cfg_space::log, cfg_space::prob, cfg_space::prob_sample, cfg_space::logit}) {
        const auto prm = cfg_params::make(sp, 3.0f);
        std::vector<float> ref(R * V);
        cfg_combine_one(seq, make_view(c.data(), R, V), make_view(n.data(), R, V), make_view(ref.data(), R, V), prm);
        cfg_combine_one(thrust_cuda(), view_of(std::as_const(dc), R, V), view_of(std::as_const(dn), R, V),
                        view_of(dout, R, V), prm);
        thrust::host_vector<float> back = dout;
        // log/logit: |x| < 40, lse differs by a few ulps -> 2e-5 absolute,
        // times g = 3; probabilities: 1e-5 relative.
        for (index_t e = 0; e < R * V; ++e) LETHE_CHECK_CLOSE(back[e], ref[e], 1e-5, 1e-4);
    }
}

BOOST_AUTO_TEST_CASE(tokens_match_host) {
    constexpr index_t R = 256, V = 8000, N = 4;
    const auto z = lethe_test::random_normal<float>(R * V, 53, 3.0);
    std::vector<token_id> hist(R * N);
    for (std::size_t k = 0; k < hist.size(); ++k) hist[k] = static_cast<token_id>((k * 11) % V);
    std::vector<std::uint64_t> seeds(R, 17), streams(R);
    std::iota(streams.begin(), streams.end(), 0);
    thrust::device_vector<float> dz(z.begin(), z.end()), dvals(R * V), dkeys(R * V);
    thrust::device_vector<token_id> dh(hist.begin(), hist.end()), dtok(R), dids(R * V);
    thrust::device_vector<std::uint64_t> dseed(seeds.begin(), seeds.end()), dstream(streams.begin(), streams.end());
    sampler_workspace_view<device_space> dws{view_of(dids, R, V), view_of(dvals, R, V), view_of(dkeys, R, V)};
    sampler_workspace ws;
    ws.resize(R, V);
    for (bool greedy : {true, false}) {
        sampler_config cfg;  // no bias/banned arrays: they would have to be device memory
        cfg.params.repeat_penalty = 1.2f;
        cfg.params.greedy = greedy;
        const auto prm = cfg.resolved();
        std::vector<token_id> ref(R);
        sample_rows(seq, make_view(z.data(), R, V), make_view(static_cast<const token_id*>(hist.data()), R, N),
                    make_view(ref.data(), R), prm,
                    sampler_streams<host_space>{make_view(static_cast<const std::uint64_t*>(seeds.data()), R),
                                                make_view(static_cast<const std::uint64_t*>(streams.data()), R), 3},
                    ws.view());
        sample_rows(thrust_cuda(), view_of(std::as_const(dz), R, V), view_of(std::as_const(dh), R, N),
                    view_of(dtok), prm,
                    sampler_streams<device_space>{view_of(std::as_const(dseed)), view_of(std::as_const(dstream)), 3},
                    dws);
        thrust::host_vector<token_id> back = dtok;
        index_t same = 0;
        for (index_t i = 0; i < R; ++i) same += back[i] == ref[i] ? 1 : 0;
        if (greedy)
            BOOST_TEST(same == R);
        else
            BOOST_TEST(same >= R - 3, same << " of " << R << " rows agree");
    }
}

BOOST_AUTO_TEST_SUITE_END()

// CFG combiners and the sampler chain through thrust's CPP and OMP systems
// (Debian thrust 1.17): the same row kernels, so rows and tokens are
// bit-identical to lethe's own seq policy.
#define BOOST_TEST_MODULE guidance_thrust
#include <lethe/guidance.hpp>
#include <lethe/backend/thrust.hpp>

#include <numeric>

#include "lethe_test.hpp"

using namespace lethe;
using namespace lethe::guidance;

BOOST_AUTO_TEST_SUITE(guidance_thrust)

BOOST_AUTO_TEST_CASE(cfg_rows_match_seq) {
    constexpr index_t R = 9, V = 777;
    const auto c = lethe_test::random_normal<float>(R * V, 41, 3.0);
    const auto n = lethe_test::random_normal<float>(R * V, 42, 3.0);
    thrust::device_vector<float> dc(c.begin(), c.end()), dn(n.begin(), n.end()), dout(R * V);
    for (auto sp : {cfg_space::log, cfg_space::prob, cfg_space::prob_sample, cfg_space::logit}) {
        const auto prm = cfg_params::make(sp, 2.0f);
        std::vector<float> ref(R * V);
        cfg_combine_one(seq, make_view(c.data(), R, V), make_view(n.data(), R, V), make_view(ref.data(), R, V), prm);
        cfg_combine_one(thrust_omp(), view_of(std::as_const(dc), R, V), view_of(std::as_const(dn), R, V),
                        view_of(dout, R, V), prm);
        thrust::host_vector<float> back = dout;
        BOOST_TEST(std::equal(ref.begin(), ref.end(), back.begin()));
        thrust::host_vector<float> hc(c.begin(), c.end()), hn(n.begin(), n.end()), hout(R * V);
        cfg_combine_one(thrust_cpp(), view_of(std::as_const(hc), R, V), view_of(std::as_const(hn), R, V),
                        view_of(hout, R, V), prm);
        BOOST_TEST(std::equal(ref.begin(), ref.end(), hout.begin()));
    }
    std::vector<float> bad(c);
    bad[3 * V + 5] = std::numeric_limits<float>::quiet_NaN();
    thrust::device_vector<float> dbad(bad.begin(), bad.end());
    BOOST_CHECK_EXCEPTION(cfg_combine_one(thrust_omp(), view_of(std::as_const(dbad), R, V),
                                          view_of(std::as_const(dn), R, V), view_of(dout, R, V),
                                          cfg_params::make(cfg_space::log, 2.0f)),
                          lethe::error,
                          [](const lethe::error& e) { return std::string(e.what()).find("row 3") != std::string::npos; });
}

BOOST_AUTO_TEST_CASE(tokens_match_seq) {
    constexpr index_t R = 40, V = 2000, N = 4;
    const auto z = lethe_test::random_normal<float>(R * V, 43, 3.0);
    std::vector<token_id> hist(R * N);
    for (std::size_t k = 0; k < hist.size(); ++k) hist[k] = static_cast<token_id>((k * 11) % V);
    std::vector<std::uint64_t> seeds(R, 17), streams(R);
    std::iota(streams.begin(), streams.end(), 0);
    sampler_config cfg;
    cfg.params.repeat_penalty = 1.2f;
    cfg.params.top_k = 0;
    cfg.params.typical_p = 0.95f;
    const auto prm = cfg.resolved();

    std::vector<token_id> ref(R);
    sampler_workspace ws;
    ws.resize(R, V);
    for (std::uint64_t step = 0; step < 4; ++step) {
        sample_rows(seq, make_view(z.data(), R, V), make_view(static_cast<const token_id*>(hist.data()), R, N),
                    make_view(ref.data(), R), prm,
                    sampler_streams<host_space>{make_view(static_cast<const std::uint64_t*>(seeds.data()), R),
                                                make_view(static_cast<const std::uint64_t*>(streams.data()), R), step},
                    ws.view());
        // Everything in thrust vectors (host memory under the OMP system).
        thrust::device_vector<float> dz(z.begin(), z.end()), dvals(R * V), dkeys(R * V);
        thrust::device_vector<token_id> dh(hist.begin(), hist.end()), dtok(R), dids(R * V);
        thrust::device_vector<std::uint64_t> dseed(seeds.begin(), seeds.end()), dstream(streams.begin(), streams.end());
        sampler_workspace_view<host_space> dws{view_of(dids, R, V), view_of(dvals, R, V), view_of(dkeys, R, V)};
        sample_rows(thrust_omp(), view_of(std::as_const(dz), R, V), view_of(std::as_const(dh), R, N), view_of(dtok),
                    prm, sampler_streams<host_space>{view_of(std::as_const(dseed)), view_of(std::as_const(dstream)), step},
                    dws);
        thrust::host_vector<token_id> back = dtok;
        BOOST_TEST(std::equal(ref.begin(), ref.end(), back.begin()), "step " << step);
        sample_rows(thrust_cpp(), view_of(std::as_const(dz), R, V), view_of(std::as_const(dh), R, N), view_of(dtok),
                    prm, sampler_streams<host_space>{view_of(std::as_const(dseed)), view_of(std::as_const(dstream)), step},
                    dws);
        back = dtok;
        BOOST_TEST(std::equal(ref.begin(), ref.end(), back.begin()), "step " << step);
    }
}

BOOST_AUTO_TEST_SUITE_END()

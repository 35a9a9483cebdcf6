// Fused linear + loss: loss, dH and dW equal the materialised path (logits =
// H W^T, loss on the logits, dH = G W, dW = G^T H) for NLL, ORPO, DPO and
// NPO, in both pair layouts and with chunks that do not divide N; double
// finite differences in H and W for ORPO.
#define BOOST_TEST_MODULE fused_linear
#include "loss_test_support.hpp"

#include <lethe/backend/eigen.hpp>
#include <lethe/loss/gemm_eigen.hpp>

using namespace lethe;

namespace {

using mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct problem {
    index_t rows = 4, len = 6, d = 7, vocab = 19;
    mat h, w;
    loss_test::batch<double> tok;  // only targets and mask are used
    explicit problem(index_t v = 19, index_t dim = 7) : d(dim), vocab(v), tok(4, 6, v, 77) {
        const auto hv = lethe_test::random_normal<double>(static_cast<std::size_t>(rows * len * d), 3, 1.0);
        const auto wv = lethe_test::random_normal<double>(static_cast<std::size_t>(vocab * d), 4, 0.7);
        h = Eigen::Map<const mat>(hv.data(), rows * len, d);
        w = Eigen::Map<const mat>(wv.data(), vocab, d);
    }
    index_t n() const { return rows * len; }
};

// Loss and (dH, dW) through the materialised logits.
template <class Loss>
double materialised(problem& p, mat& dh, mat& dw, Loss&& loss_on_logits) {
    mat z = p.h * p.w.transpose();
    mat g(p.n(), p.vocab);
    const double v = loss_on_logits(z, g);
    dh = g * p.w;
    dw = g.transpose() * p.h;
    return v;
}

double rel(const mat& a, const mat& b) { return (a - b).norm() / b.norm(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(fused_linear)

BOOST_AUTO_TEST_CASE(fused_equals_materialised_for_every_family) {
    problem p;
    const auto tt = loss::make_token_targets(p.tok.targets_view(), p.tok.mask_view());
    const std::vector<double> ref{-20.0, -18.5, -22.0, -19.0};
    const auto refv = make_view(ref.data(), 4);
    for (index_t chunk : {5, 24, 64}) {  // 5 does not divide 24; 64 > N
        loss::host_fused_linear_workspace<double> fws(p.n(), p.rows, chunk, p.vocab);
        loss::host_loss_workspace<double> lws(p.n(), p.rows);
        mat dh(p.n(), p.d), dw(p.vocab, p.d), rdh, rdw;
        auto batch_of = [&](mat& z) {
            return loss::make_token_batch(make_view(z.data(), p.rows, p.len, p.vocab), p.tok.targets_view(),
                                          p.tok.mask_view());
        };
        // Double GEMMs with different blocking orders: ~1e-15 relative.
        constexpr double tol = 1e-12;

        const auto fn = loss::fused_linear_nll(par, loss::eigen_gemm{}, view_of(p.h), view_of(p.w), tt, fws.view(),
                                               view_of(dh), view_of(dw));
        const double rn = materialised(p, rdh, rdw, [&](mat& z, mat& g) {
            return loss::nll(seq, make_view(z.data(), p.n(), p.vocab), make_view(p.tok.targets.data(), p.n()),
                             make_view(p.tok.mask.data(), p.n()), view_of(g)).loss;
        });
        LETHE_CHECK_CLOSE(fn.loss, rn, tol, 0.0);
        BOOST_CHECK_LE(rel(dh, rdh), tol);
        BOOST_CHECK_LE(rel(dw, rdw), tol);

        for (auto cfg : {loss::preference_config::orpo(0.2), loss::preference_config::dpo(0.1, 0.05),
                         loss::preference_config::orpo(0.2).with_layout(loss::pair_layout::interleaved)}) {
            const auto fr = loss::fused_linear_preference(par, loss::eigen_gemm{}, view_of(p.h), view_of(p.w), tt,
                                                          fws.view(), view_of(dh), view_of(dw), cfg, refv);
            const double rv = materialised(p, rdh, rdw, [&](mat& z, mat& g) {
                return loss::preference_loss(seq, batch_of(z), lws.view(), view_of(g), cfg, refv).loss;
            });
            LETHE_CHECK_CLOSE(fr.loss, rv, tol, 0.0);
            BOOST_CHECK_LE(rel(dh, rdh), tol);
            BOOST_CHECK_LE(rel(dw, rdw), tol);
        }
        loss::unlearning_config u;
        u.kind = loss::unlearning_kind::npo;
        u.forget_rows = 3;
        const auto fu = loss::fused_linear_unlearning(par, loss::eigen_gemm{}, view_of(p.h), view_of(p.w), tt,
                                                      fws.view(), view_of(dh), view_of(dw), u, refv);
        const double ru = materialised(p, rdh, rdw, [&](mat& z, mat& g) {
            return loss::unlearning_loss(seq, batch_of(z), lws.view(), view_of(g), u, refv).loss;
        });
        LETHE_CHECK_CLOSE(fu.loss, ru, tol, 0.0);
        BOOST_CHECK_LE(rel(dh, rdh), tol);
        BOOST_CHECK_LE(rel(dw, rdw), tol);
    }
}

BOOST_AUTO_TEST_CASE(vocabulary_tiles_and_row_blocks) {
    // V = 2500 with a 3-row chunk buffer (7500 values): the sequence losses
    // run in blocks of 7 token rows (24 = 7 + 7 + 7 + 3) by 3 vocabulary
    // tiles (848 + 848 + 804), so the online merge of tile log-sum-exps,
    // the target logit kept across tiles, and dW / dH accumulation over
    // blocks and tiles all run. Token 9's target logit is made dominant
    // (logp ~ -1e-9), so its log-prob takes the confident-token formula
    // with the sum of the other tiles.
    problem p(2500, 5);
    const index_t confident = 9;
    const auto t9 = static_cast<index_t>(p.tok.targets[confident]);
    p.w.row(t9).setZero();
    p.w(t9, 0) = 10.0;
    p.h.row(confident).setZero();
    p.h(confident, 0) = 3.0;
    BOOST_REQUIRE(p.tok.mask[confident] == loss::token_kind::completion);
    const auto tt = loss::make_token_targets(p.tok.targets_view(), p.tok.mask_view());
    const auto plan = loss::detail::plan_tiles(p.n(), p.vocab, 3 * p.vocab);
    BOOST_CHECK_EQUAL(plan.rows, 7);
    BOOST_CHECK_EQUAL(plan.cols, 848);
    loss::host_fused_linear_workspace<double> fws(p.n(), p.rows, 3, p.vocab);
    loss::host_loss_workspace<double> lws(p.n(), p.rows);
    mat dh(p.n(), p.d), dw(p.vocab, p.d), rdh, rdw;
    auto batch_of = [&](mat& z) {
        return loss::make_token_batch(make_view(z.data(), p.rows, p.len, p.vocab), p.tok.targets_view(),
                                      p.tok.mask_view());
    };
    constexpr double tol = 1e-12;  // double GEMMs in different blockings, as above
    for (auto cfg : {loss::preference_config::orpo(0.2), loss::preference_config::simpo(2.0, 0.5)}) {
        const auto fr = loss::fused_linear_preference(par, loss::eigen_gemm{}, view_of(p.h), view_of(p.w), tt,
                                                      fws.view(), view_of(dh), view_of(dw), cfg);
        const double token_logp = fws.view().loss.logp(confident);
        const double rv = materialised(p, rdh, rdw, [&](mat& z, mat& g) {
            return loss::preference_loss(seq, batch_of(z), lws.view(), view_of(g), cfg).loss;
        });
        LETHE_CHECK_CLOSE(fr.loss, rv, tol, 0.0);
        BOOST_CHECK_LE(rel(dh, rdh), tol);
        BOOST_CHECK_LE(rel(dw, rdw), tol);
        // The confident token's log-prob agrees to rounding of a ~1e-9 value.
        BOOST_CHECK_LT(token_logp, -1e-12);
        LETHE_CHECK_CLOSE(token_logp, lws.view().logp(confident), 1e-9, 0.0);
    }
    // Bad values still name the token: a NaN in W reaches every token's
    // row; the first counted one is reported.
    p.w(1700, 2) = std::numeric_limits<double>::quiet_NaN();
    const auto m = loss_test::error_of([&] {
        loss::fused_linear_preference(seq, loss::eigen_gemm{}, view_of(p.h), view_of(p.w), tt, fws.view(), view_of(dh),
                                      view_of(dw), loss::preference_config::orpo(0.2));
    });
    BOOST_CHECK_MESSAGE(m.find("row 0, position 0") != std::string::npos && m.find("non-finite") != std::string::npos, m);
    p.w(1700, 2) = 0.0;
    p.tok.targets[13] = static_cast<std::int32_t>(p.vocab);
    const auto m2 = loss_test::error_of([&] {
        loss::fused_linear_preference(seq, loss::eigen_gemm{}, view_of(p.h), view_of(p.w), tt, fws.view(), view_of(dh),
                                      view_of(dw), loss::preference_config::orpo(0.2));
    });
    BOOST_CHECK_MESSAGE(m2.find("row 2, position 1") != std::string::npos && m2.find("target id 2500") != std::string::npos,
                        m2);
}

BOOST_AUTO_TEST_CASE(orpo_dh_dw_match_finite_differences) {
    problem p;
    const auto tt = loss::make_token_targets(p.tok.targets_view(), p.tok.mask_view());
    loss::host_fused_linear_workspace<double> fws(p.n(), p.rows, 7, p.vocab);
    mat dh(p.n(), p.d), dw(p.vocab, p.d), sh(p.n(), p.d), sw(p.vocab, p.d);
    const auto cfg = loss::preference_config::orpo(0.3);
    loss::fused_linear_preference(seq, loss::eigen_gemm{}, view_of(p.h), view_of(p.w), tt, fws.view(), view_of(dh),
                                  view_of(dw), cfg);
    auto value = [&] {
        return loss::fused_linear_preference(seq, loss::eigen_gemm{}, view_of(p.h), view_of(p.w), tt, fws.view(),
                                             view_of(sh), view_of(sw), cfg).loss;
    };
    std::vector<double> hx(p.h.data(), p.h.data() + p.h.size()), gh(dh.data(), dh.data() + dh.size());
    // fd_relative_error perturbs a vector; mirror it into H on each call.
    const double eh = loss_test::fd_relative_error(hx, gh, [&] {
        std::copy(hx.begin(), hx.end(), p.h.data());
        return value();
    });
    std::copy(hx.begin(), hx.end(), p.h.data());
    std::vector<double> wx(p.w.data(), p.w.data() + p.w.size()), gw(dw.data(), dw.data() + dw.size());
    const double ew = loss_test::fd_relative_error(wx, gw, [&] {
        std::copy(wx.begin(), wx.end(), p.w.data());
        return value();
    });
    BOOST_TEST_MESSAGE("fused ORPO fd relative error: dH " << eh << ", dW " << ew);
    BOOST_CHECK_LE(eh, 1e-6);  // the bound
    BOOST_CHECK_LE(ew, 1e-6);
}

BOOST_AUTO_TEST_CASE(shape_errors) {
    problem p;
    const auto tt = loss::make_token_targets(p.tok.targets_view(), p.tok.mask_view());
    loss::host_fused_linear_workspace<double> fws(p.n(), p.rows, 4, p.vocab + 1);
    mat dh(p.n(), p.d), dw(p.vocab, p.d);
    const auto m = loss_test::error_of([&] {
        loss::fused_linear_nll(seq, loss::eigen_gemm{}, view_of(p.h), view_of(p.w), tt, fws.view(), view_of(dh),
                               view_of(dw));
    });
    BOOST_CHECK_MESSAGE(m.find("workspace.chunk") != std::string::npos, m);
    mat bad(p.vocab, p.d + 1);
    loss::host_fused_linear_workspace<double> ok(p.n(), p.rows, 4, p.vocab);
    const auto m2 = loss_test::error_of([&] {
        loss::fused_linear_nll(seq, loss::eigen_gemm{}, view_of(p.h), view_of(bad), tt, ok.view(), view_of(dh),
                               view_of(dw));
    });
    BOOST_CHECK_MESSAGE(m2.find("W: dimension 1") != std::string::npos, m2);
}

BOOST_AUTO_TEST_SUITE_END()

// Data parallelism without MPI: the shard split, the loss normalisers that
// make the ranks' losses and gradients sum to the global batch's, and the
// single-process communicator. tests/parallel/mpi_data_parallel.cpp runs the
// training loops on 2 MPI ranks (label mpi).
#define BOOST_TEST_MODULE data_parallel
#include "lethe_test.hpp"

#include <lethe/loss.hpp>
#include <lethe/parallel.hpp>

#include <vector>

#include "../loss/loss_test_support.hpp"

using namespace lethe;

BOOST_AUTO_TEST_CASE(shards_cover_the_batch_in_order) {
    for (int ranks = 1; ranks <= 5; ++ranks)
        for (index_t n = ranks; n <= 11; ++n) {
            index_t next = 0;
            for (int r = 0; r < ranks; ++r) {
                const auto [first, last] = parallel::shard(n, r, ranks);
                BOOST_TEST(first == next);
                BOOST_TEST(last - first >= n / ranks);
                BOOST_TEST(last - first <= n / ranks + 1);
                next = last;
            }
            BOOST_TEST(next == n);
        }
    const auto [first, last] = parallel::shard(5, 0, 2);  // the first n % ranks shards are larger
    BOOST_TEST(first == 0);
    BOOST_TEST(last == 3);
    LETHE_CHECK_THROWS_WITH(parallel::shard(4, 2, 2), "rank 2 of 2 is not a rank");
}

BOOST_AUTO_TEST_CASE(one_process_exchanges_nothing) {
    auto& one = parallel::this_process();
    BOOST_TEST(one.rank() == 0);
    BOOST_TEST(one.size() == 1);
    std::vector<double> v{1.5, -2.0};
    one.allreduce_sum(std::span<double>(v));
    BOOST_TEST(v == (std::vector<double>{1.5, -2.0}));
    BOOST_TEST(one.broadcast("x") == "x");
    parallel::require_same(one, "anything", "here", "inputs");  // nothing to compare
}

namespace {
// The rows of pairs [first, last) of a chosen-then-rejected batch of P pairs.
std::vector<index_t> pair_rows(index_t first, index_t last, index_t P) {
    std::vector<index_t> rows;
    for (index_t i = first; i < last; ++i) rows.push_back(i);
    for (index_t i = first; i < last; ++i) rows.push_back(P + i);
    return rows;
}
}  // namespace

// A batch of 5 pairs split 3 + 2 as two ranks split it: with global_pairs
// and global_nll_tokens set, the shards' losses sum to the whole batch's
// loss and each shard's gradient rows equal the whole batch's, for ORPO (NLL
// over completions or over everything), SimPO (length means) and CPO.
BOOST_AUTO_TEST_CASE(shard_losses_and_gradients_sum_to_the_global_batch) {
    const index_t P = 5, rows = 2 * P, len = 7, V = 11;
    loss_test::batch<double> whole(rows, len, V, 17);
    std::vector<loss::preference_config> cfgs{loss::preference_config::orpo(0.1),
                                              loss::preference_config::orpo(0.2, loss::nll_scope::prompt_and_completion),
                                              loss::preference_config::simpo(2.0, 0.5, 0.3), loss::preference_config::cpo()};
    for (const auto& cfg : cfgs) {
        std::vector<double> g(whole.logits.size(), 0.0);
        loss::host_loss_workspace<double> ws(rows * len, rows);
        const auto full = loss::preference_loss(par, whole.token_batch(), ws.view(), make_view(g.data(), rows * len, V), cfg);
        // The NLL's tokens over the chosen rows, counted as the recipe counts them.
        double nll_tokens = 0;
        for (index_t i = 0; i < P * len; ++i)
            nll_tokens += cfg.scope == loss::nll_scope::completion
                              ? whole.mask[std::size_t(i)] == loss::token_kind::completion
                              : whole.mask[std::size_t(i)] != 0;
        double sum = 0;
        for (int r = 0; r < 2; ++r) {
            const auto [first, last] = parallel::shard(P, r, 2);
            const auto picked = pair_rows(first, last, P);
            const index_t sr = index_t(picked.size());
            loss_test::batch<double> part(sr, len, V, 1);
            for (index_t k = 0; k < sr; ++k)
                for (index_t t = 0; t < len; ++t) {
                    const auto from = std::size_t(picked[std::size_t(k)] * len + t), to = std::size_t(k * len + t);
                    part.targets[to] = whole.targets[from];
                    part.mask[to] = whole.mask[from];
                    for (index_t v = 0; v < V; ++v) part.logits[to * V + v] = whole.logits[from * V + v];
                }
            auto c = cfg;
            c.global_pairs = double(P);
            c.global_nll_tokens = nll_tokens;
            std::vector<double> gp(part.logits.size(), 0.0);
            loss::host_loss_workspace<double> wp(sr * len, sr);
            const auto res = loss::preference_loss(par, part.token_batch(), wp.view(), make_view(gp.data(), sr * len, V), c);
            sum += res.loss;
            double worst = 0;
            for (index_t k = 0; k < sr; ++k)
                for (index_t i = 0; i < len * V; ++i)
                    worst = std::max(worst, std::abs(gp[std::size_t(k * len * V + i)] -
                                                     g[std::size_t(picked[std::size_t(k)] * len * V + i)]));
            BOOST_TEST(worst < 1e-15);
        }
        BOOST_TEST(sum == full.loss, boost::test_tools::tolerance(1e-13));
    }
    // Normalisers smaller than the shard are refused.
    auto bad = loss::preference_config::orpo();
    bad.global_pairs = 2;
    std::vector<double> g(whole.logits.size(), 0.0);
    loss::host_loss_workspace<double> ws(rows * len, rows);
    LETHE_CHECK_THROWS_WITH(loss::preference_loss(par, whole.token_batch(), ws.view(), make_view(g.data(), rows * len, V), bad),
                            "global_pairs 2 is fewer than this shard's 5 pairs");
}

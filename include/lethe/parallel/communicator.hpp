// lethe/parallel/communicator.hpp - what data-parallel training needs from a
// process group, and nothing more.
//
// Training with a communicator of N ranks (recipe::train_language_model,
// recipe::train_cfg_orpo, model::trainer): every rank holds the whole model
// and reads the same data; each optimizer step's global batch is split into
// N contiguous shards (shard()), each rank runs forward and backward on its
// own, the gradients are summed in one fused buffer (allreduce_sum over the
// trained block), and every rank applies the same clipping and AdamW update,
// so the weights stay identical. Losses are normalised over the global batch
// (token means by the global token count, pair means by the global pair
// count), so N ranks x batch B compute what 1 rank x batch N*B computes, up
// to float rounding in the sums.
//
// Backends: single_process (here: the default, no communication),
// mpi_communicator (parallel/mpi.hpp, Open MPI or any MPI-3), and
// nccl_communicator (parallel/nccl.hpp, device buffers on the GPU path). An
// algorithm only sees this interface; it never includes a backend.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/config.hpp"
#include "../core/error.hpp"
#include "../core/hash.hpp"

namespace lethe::parallel {

class communicator {
public:
    virtual ~communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // In place: every rank ends with the element-wise sum over ranks.
    virtual void allreduce_sum(std::span<float> values) = 0;
    virtual void allreduce_sum(std::span<double> values) = 0;
    // Rank 0's string on every rank.
    virtual std::string broadcast(const std::string& value) = 0;

    bool is_root() const { return rank() == 0; }
};

// One process: nothing to exchange.
class single_process final : public communicator {
public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    void allreduce_sum(std::span<float>) override {}
    void allreduce_sum(std::span<double>) override {}
    std::string broadcast(const std::string& value) override { return value; }
};

// The communicator a training loop uses when it is given none.
inline communicator& this_process() {
    static single_process one;
    return one;
}

// Rank r's share [first, last) of n items split over `ranks` contiguous
// shards whose sizes differ by at most one (the first n % ranks are larger).
inline std::pair<index_t, index_t> shard(index_t n, int rank, int ranks) {
    require(ranks > 0 && rank >= 0 && rank < ranks, "lethe::parallel::shard", "rank ", rank, " of ", ranks,
            " is not a rank");
    const index_t q = n / ranks, extra = n % ranks;
    const index_t first = rank * q + std::min<index_t>(rank, extra);
    return {first, first + q + (rank < extra ? 1 : 0)};
}

// Throws on every rank (so none waits for the others forever) unless every
// rank passed the same `value`; the message names `what` and the ranks whose
// value differs from rank 0's.
inline void require_same(communicator& comm, const std::string& value, std::string_view where,
                         std::string_view what) {
    if (comm.size() == 1) return;
    const std::string root = comm.broadcast(value);
    std::vector<double> differs(static_cast<std::size_t>(comm.size()), 0.0);
    differs[static_cast<std::size_t>(comm.rank())] = root == value ? 0.0 : 1.0;
    comm.allreduce_sum(std::span<double>(differs));
    std::string ranks;
    for (std::size_t r = 0; r < differs.size(); ++r)
        if (differs[r] != 0.0) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
    if (!ranks.empty())
        fail(where, what, " differ between ranks: rank", ranks.find(',') == std::string::npos ? " " : "s ", ranks,
             " ha", ranks.find(',') == std::string::npos ? "s" : "ve", " other ", what, " than rank 0 (this is rank ",
             comm.rank(), " of ", comm.size(), "; start every rank with the same inputs)");
}

// Rank 0's and every other rank's copy of a block of weights must agree
// bit for bit before data-parallel training starts.
template <class T>
void require_same_values(communicator& comm, std::span<const T> values, std::string_view where,
                         std::string_view what) {
    if (comm.size() == 1) return;
    const std::uint64_t h = fnv1a64(std::string_view(reinterpret_cast<const char*>(values.data()), values.size_bytes()));
    require_same(comm, std::to_string(values.size()) + ":" + std::to_string(h), where, what);
}

}  // namespace lethe::parallel

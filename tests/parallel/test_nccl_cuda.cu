// The NCCL communicator on the GPU path (label gpu: built by nvcc in the
// cuda preset, run by scripts/gpu-check on a GPU machine). With one GPU the
// world has one rank, so the sums are the inputs themselves; what this
// checks is the contract the training loops use: allreduce_sum over a
// thrust::device_vector's memory, in place, in float and double, and
// broadcast of a fingerprint string, through the same interface as MPI.
#define BOOST_TEST_MODULE nccl_cuda
#include <lethe/parallel/nccl.hpp>

#include <thrust/device_vector.h>
#include <thrust/host_vector.h>
#include <thrust/sequence.h>

#include "lethe_test.hpp"

BOOST_AUTO_TEST_CASE(one_rank_allreduce_and_broadcast_on_device_memory) {
    int devices = 0;
    BOOST_REQUIRE(cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0);
    ncclUniqueId id;
    BOOST_REQUIRE(ncclGetUniqueId(&id) == ncclSuccess);
    // The id travels as bytes (how MPI broadcasts it to the other ranks).
    const auto again = lethe::parallel::nccl_unique_id_from(lethe::parallel::to_string(id));
    lethe::parallel::nccl_communicator comm(again, 0, 1, 0);
    lethe::parallel::communicator& world = comm;
    BOOST_TEST(world.size() == 1);
    BOOST_TEST(world.is_root());

    thrust::device_vector<float> grads(1000);
    thrust::sequence(grads.begin(), grads.end(), 0.5f);
    world.allreduce_sum(std::span<float>(thrust::raw_pointer_cast(grads.data()), grads.size()));
    thrust::host_vector<float> back = grads;
    BOOST_TEST(back[0] == 0.5f);
    BOOST_TEST(back[999] == 999.5f);

    thrust::device_vector<double> sums(2, 3.0);
    world.allreduce_sum(std::span<double>(thrust::raw_pointer_cast(sums.data()), sums.size()));
    BOOST_TEST(double(sums[1]) == 3.0);

    BOOST_TEST(world.broadcast("fingerprint 0123") == "fingerprint 0123");
    BOOST_TEST(world.broadcast("").empty());
    lethe::parallel::require_same(world, "same", "test", "inputs");  // one rank: nothing to compare

    LETHE_CHECK_THROWS_WITH(lethe::parallel::nccl_unique_id_from("short"), "bytes, got 5");
}

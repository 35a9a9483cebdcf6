// lethe/parallel/nccl.hpp - the communicator over NCCL for the GPU path:
// the same contract as mpi_communicator, with the buffers in device memory
// (the thrust CUDA system's gradients). Compile with nvcc and link libnccl.
//
// NCCL needs one ncclUniqueId shared by all ranks before it starts; the
// usual way is MPI (rank 0 calls ncclGetUniqueId and broadcasts it):
//
//   lethe::parallel::mpi_session mpi(argc, argv);
//   lethe::parallel::mpi_communicator world;
//   ncclUniqueId id;
//   if (world.is_root()) ncclGetUniqueId(&id);
//   id = lethe::parallel::nccl_unique_id_from(world.broadcast(lethe::parallel::to_string(id)));
//   lethe::parallel::nccl_communicator gpu(id, world.rank(), world.size(), /*device=*/world.rank() % n_gpus);
//
// What limits it: NCCL rides NVLink or InfiniBand between GPUs; over
// Ethernet between machines MPI's and NCCL's all-reduces both run at the
// network's bandwidth (docs/model.md, "Training on several machines").
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <span>
#include <string>

#include "../core/error.hpp"
#include "communicator.hpp"

namespace lethe::parallel {

namespace detail {
inline void nccl_check(ncclResult_t rc, const char* call) {
    if (rc != ncclSuccess) fail("lethe::parallel::nccl", call, " failed: ", ncclGetErrorString(rc));
}
inline void cuda_check(cudaError_t rc, const char* call) {
    if (rc != cudaSuccess) fail("lethe::parallel::nccl", call, " failed: ", cudaGetErrorString(rc));
}
}  // namespace detail

inline std::string to_string(const ncclUniqueId& id) { return std::string(id.internal, sizeof id.internal); }
inline ncclUniqueId nccl_unique_id_from(const std::string& bytes) {
    ncclUniqueId id{};
    require(bytes.size() == sizeof id.internal, "lethe::parallel::nccl_unique_id_from", "expected ",
            sizeof id.internal, " bytes, got ", bytes.size());
    for (std::size_t i = 0; i < bytes.size(); ++i) id.internal[i] = bytes[i];
    return id;
}

// allreduce_sum takes device pointers (a thrust::device_vector's data);
// broadcast takes host strings (staged through a device buffer).
class nccl_communicator final : public communicator {
public:
    nccl_communicator(const ncclUniqueId& id, int rank, int size, int device) : rank_(rank), size_(size) {
        detail::cuda_check(cudaSetDevice(device), "cudaSetDevice");
        detail::cuda_check(cudaStreamCreate(&stream_), "cudaStreamCreate");
        detail::nccl_check(ncclCommInitRank(&comm_, size, id, rank), "ncclCommInitRank");
    }
    nccl_communicator(const nccl_communicator&) = delete;
    nccl_communicator& operator=(const nccl_communicator&) = delete;
    ~nccl_communicator() override {
        ncclCommDestroy(comm_);
        cudaStreamDestroy(stream_);
    }
    int rank() const override { return rank_; }
    int size() const override { return size_; }
    void allreduce_sum(std::span<float> v) override { reduce(v.data(), v.size(), ncclFloat); }
    void allreduce_sum(std::span<double> v) override { reduce(v.data(), v.size(), ncclDouble); }
    std::string broadcast(const std::string& value) override {
        unsigned long long n = value.size();
        void* dev = nullptr;
        detail::cuda_check(cudaMalloc(&dev, sizeof n + value.size() + 1), "cudaMalloc");
        struct release {
            void* p;
            ~release() { cudaFree(p); }
        } guard{dev};
        detail::cuda_check(cudaMemcpy(dev, &n, sizeof n, cudaMemcpyHostToDevice), "cudaMemcpy");
        detail::nccl_check(ncclBroadcast(dev, dev, sizeof n, ncclChar, 0, comm_, stream_), "ncclBroadcast");
        detail::cuda_check(cudaMemcpyAsync(&n, dev, sizeof n, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync");
        detail::cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
        std::string out = rank_ == 0 ? value : std::string(static_cast<std::size_t>(n), '\0');
        if (n == 0) return out;
        void* buf = nullptr;
        detail::cuda_check(cudaMalloc(&buf, n), "cudaMalloc");
        release guard2{buf};
        if (rank_ == 0) detail::cuda_check(cudaMemcpy(buf, out.data(), n, cudaMemcpyHostToDevice), "cudaMemcpy");
        detail::nccl_check(ncclBroadcast(buf, buf, n, ncclChar, 0, comm_, stream_), "ncclBroadcast");
        detail::cuda_check(cudaMemcpyAsync(out.data(), buf, n, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync");
        detail::cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
        return out;
    }
    ncclComm_t handle() const noexcept { return comm_; }
    cudaStream_t stream() const noexcept { return stream_; }

private:
    void reduce(void* data, std::size_t n, ncclDataType_t type) {
        if (n == 0) return;
        detail::nccl_check(ncclAllReduce(data, data, n, type, ncclSum, comm_, stream_), "ncclAllReduce");
        detail::cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    }
    int rank_, size_;
    ncclComm_t comm_{};
    cudaStream_t stream_{};
};

}  // namespace lethe::parallel

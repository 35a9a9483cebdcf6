// lethe/parallel/mpi.hpp - the communicator over MPI (Open MPI from Debian's
// libopenmpi-dev, or any MPI-3 library; CMake: find_package(MPI), target
// MPI::MPI_CXX). Only code that is built with MPI includes this header.
//
//   int main(int argc, char** argv) {
//       lethe::parallel::mpi_session mpi(argc, argv);   // MPI_Init .. MPI_Finalize
//       lethe::parallel::mpi_communicator world;         // MPI_COMM_WORLD
//       opts.comm = &world;                              // then train as usual
//   }
//
// Errors: every MPI call's return code is checked and turned into a
// lethe::error naming the call. A rank that dies mid-run makes the others'
// next collective fail; Open MPI's default handler (MPI_ERRORS_ARE_FATAL)
// then ends the whole job with a message naming the rank, which is what a
// user launching with mpirun wants. Checkpoints are written by rank 0 to a
// temporary directory and renamed, so the last one survives.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <span>
#include <string>

#include "../core/error.hpp"
#include "communicator.hpp"

namespace lethe::parallel {

namespace detail {
inline void mpi_check(int rc, const char* call) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    fail("lethe::parallel::mpi", call, " failed: ", std::string(text, static_cast<std::size_t>(len)));
}

template <class T>
void mpi_allreduce_sum(std::span<T> v, MPI_Datatype type, MPI_Comm comm) {
    // MPI counts are int: large buffers go in chunks.
    for (std::size_t at = 0; at < v.size(); at += static_cast<std::size_t>(INT_MAX)) {
        const auto n = static_cast<int>(std::min<std::size_t>(v.size() - at, static_cast<std::size_t>(INT_MAX)));
        mpi_check(MPI_Allreduce(MPI_IN_PLACE, v.data() + at, n, type, MPI_SUM, comm), "MPI_Allreduce");
    }
}
}  // namespace detail

// MPI_Init / MPI_Finalize for the lifetime of main (nothing if MPI was
// already initialised by the caller).
class mpi_session {
public:
    mpi_session(int& argc, char**& argv) {
        int ready = 0;
        MPI_Initialized(&ready);
        if (!ready) {
            detail::mpi_check(MPI_Init(&argc, &argv), "MPI_Init");
            owner_ = true;
        }
    }
    mpi_session(const mpi_session&) = delete;
    mpi_session& operator=(const mpi_session&) = delete;
    ~mpi_session() {
        int done = 0;
        MPI_Finalized(&done);
        if (owner_ && !done) MPI_Finalize();
    }

private:
    bool owner_ = false;
};

class mpi_communicator final : public communicator {
public:
    explicit mpi_communicator(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
        detail::mpi_check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
        detail::mpi_check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
        // Errors come back as codes (turned into lethe::error) for the calls
        // lethe makes; a dead peer still ends the job through mpirun.
        detail::mpi_check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    }
    int rank() const override { return rank_; }
    int size() const override { return size_; }
    void allreduce_sum(std::span<float> v) override { detail::mpi_allreduce_sum(v, MPI_FLOAT, comm_); }
    void allreduce_sum(std::span<double> v) override { detail::mpi_allreduce_sum(v, MPI_DOUBLE, comm_); }
    std::string broadcast(const std::string& value) override {
        long long n = static_cast<long long>(value.size());
        detail::mpi_check(MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, comm_), "MPI_Bcast");
        require(n >= 0 && n < INT_MAX, "lethe::parallel::mpi", "broadcast of ", n, " bytes");
        std::string out = rank_ == 0 ? value : std::string(static_cast<std::size_t>(n), '\0');
        detail::mpi_check(MPI_Bcast(out.data(), static_cast<int>(n), MPI_CHAR, 0, comm_), "MPI_Bcast");
        return out;
    }
    MPI_Comm handle() const noexcept { return comm_; }

private:
    MPI_Comm comm_;
    int rank_ = 0, size_ = 1;
};

}  // namespace lethe::parallel

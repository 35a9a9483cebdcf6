// lethe/parallel.hpp - data-parallel training's process group
// (parallel/communicator.hpp). The backends are included on their own, by
// code built with them: parallel/mpi.hpp (MPI), parallel/nccl.hpp (NCCL).
#pragma once

#include "parallel/communicator.hpp"

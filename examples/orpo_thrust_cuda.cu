// orpo-thrust built by nvcc: the body of orpo_thrust.cpp on thrust's CUDA
// system (device memory, the GPU runs the token rows).
#include "orpo_thrust.cpp"

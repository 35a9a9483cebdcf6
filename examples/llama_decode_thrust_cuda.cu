// llama-decode-thrust built by nvcc: the body of llama_decode_thrust.cpp on
// thrust's CUDA system with cuBLAS GEMMs (scripts/gpu-check runs it).
#include "llama_decode_thrust.cpp"

// lethe/model.hpp - the reference Llama transformer (layer umbrella).
// Needs Eigen (and OpenMP for threads).
#pragma once

#include "model/arithmetic.hpp"
#include "model/bf16_linear.hpp"
#include "model/checkpoint.hpp"
#include "model/config.hpp"
#include "model/layers.hpp"
#include "model/llama.hpp"
#include "model/lora.hpp"
#include "model/optim.hpp"
#include "model/parameters.hpp"
#include "model/quantized_linear.hpp"
#include "model/random.hpp"
#include "model/train.hpp"

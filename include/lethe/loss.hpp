// lethe/loss.hpp - the losses layer: sequence log-probs, NLL/SFT, the ORPO
// family of preference losses, unlearning losses, fused linear + loss.
// Backend-specific pieces (the Eigen GEMM hook) are separate headers.
#pragma once

#include "loss/nll.hpp"
#include "loss/sequence_logprobs.hpp"
#include "loss/preference.hpp"
#include "loss/unlearning.hpp"
#include "loss/fused_linear.hpp"

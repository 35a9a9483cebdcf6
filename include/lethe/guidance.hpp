// lethe/guidance.hpp - classifier-free guidance, the sampler chain and the
// batched decoding loop over lethe::causal_lm.
#pragma once

#include "guidance/cfg.hpp"
#include "guidance/decode.hpp"
#include "guidance/philox.hpp"
#include "guidance/sampler.hpp"
#include "guidance/sampler_config.hpp"
#include "guidance/table_lm.hpp"

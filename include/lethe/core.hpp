// lethe/core.hpp - views, execution policies, numerics, row primitives, errors, UTF-8.
#pragma once

#include "core/causal_lm.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/execution.hpp"
#include "core/gemm_hook.hpp"
#include "core/hash.hpp"
#include "core/numerics.hpp"
#include "core/row_ops.hpp"
#include "core/simd.hpp"
#include "core/utf8.hpp"
#include "core/view.hpp"

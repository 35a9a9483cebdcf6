// lethe/lethe.hpp - every lethe layer that needs no optional backend:
// core, loss, guidance, privacy, io and eval.
// Opt-in, because they need Eigen: <lethe/model.hpp> (the reference
// transformer) and <lethe/recipe.hpp> (the unlearning recipe). Backends:
// <lethe/backend/eigen.hpp>, <lethe/backend/xtensor.hpp>,
// <lethe/backend/thrust.hpp>. The keyed-hash operator:
// <lethe/privacy/keyed_hash.hpp> (link lethe::crypto).
#pragma once

#include "core.hpp"
#include "eval.hpp"
#include "guidance.hpp"
#include "io.hpp"
#include "loss.hpp"
#include "parallel.hpp"
#include "privacy.hpp"

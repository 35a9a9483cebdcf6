// lethe/recipe.hpp - the unlearning recipe of arXiv 2412.06846 as composable
// stages (subtraction, replacement pairs, CFG-aware ORPO with LoRA, CFG
// inference), the language-model training the demo uses, and a seeded
// synthetic world to run it on; the experiment (leaky model, every variant,
// the report's table) that examples/unlearn_demo.cpp runs.
#pragma once

#include "recipe/cfg_inference.hpp"
#include "recipe/cfg_orpo.hpp"
#include "recipe/experiment.hpp"
#include "recipe/generation.hpp"
#include "recipe/lm_training.hpp"
#include "recipe/pairs.hpp"
#include "recipe/progress.hpp"
#include "recipe/report.hpp"
#include "recipe/subtraction.hpp"
#include "recipe/synthetic_world.hpp"
#include "recipe/variants.hpp"

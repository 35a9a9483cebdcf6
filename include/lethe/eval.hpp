// lethe/eval.hpp - evaluation of unlearning over any lethe::causal_lm: the
// challenge's extraction attack, PII counts, exact-match utility, perplexity.
#pragma once

#include "eval/attack.hpp"
#include "eval/decoding.hpp"
#include "eval/dialog.hpp"
#include "eval/tokenizer.hpp"
#include "eval/utility.hpp"

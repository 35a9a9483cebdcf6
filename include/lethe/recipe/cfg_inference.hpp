// lethe/recipe/cfg_inference.hpp - stage 4: classifier-free guidance at
// inference (arXiv 2412.06846 section 4, eq. 2; section 5 for probability
// space). The conditional context carries the POS system sentence, the
// negative one the NEG sentence the model was trained to associate with
// leaking; the guidance layer combines their next-token rows per step:
//   log space          out = u + g (s - u),  s, u = log_softmax(z_pos), log_softmax(z_neg)
//   probability space  out = q + g (p - q),  p, q = softmax(z_pos), softmax(z_neg)
// g = 1 is the conditional model alone. Both contexts run as one batch.
#pragma once

#include <string>

#include "../eval/decoding.hpp"
#include "../guidance/cfg.hpp"
#include "../privacy/pair_builder.hpp"

namespace lethe::recipe {

// The paper's sentences (the pair builder's defaults, so training and
// inference agree).
inline std::string pos_sentence() { return privacy::pair_builder_options{}.pos_sentence; }
inline std::string neg_sentence() { return privacy::pair_builder_options{}.neg_sentence; }

// Decoding with the POS sentence only (what a CFG-aware model answers
// without guidance).
inline eval::decoding_setup positive_decoding(const std::string& pos = pos_sentence()) {
    eval::decoding_setup d;
    d.system = pos;
    return d;
}

// CFG decoding with scale g in the given space.
inline eval::decoding_setup cfg_decoding(float g, guidance::cfg_space space = guidance::cfg_space::log,
                                         const std::string& pos = pos_sentence(), const std::string& neg = neg_sentence()) {
    eval::decoding_setup d;
    d.system = pos;
    d.negative_system = neg;
    d.guidance_scale = g;
    d.space = space;
    d.validate("lethe::recipe::cfg_decoding");
    return d;
}

}  // namespace lethe::recipe

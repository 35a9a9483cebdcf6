// tests/recipe/recipe_test_support.hpp - the small model and world the
// recipe's unit tests train and evaluate in seconds.
#pragma once

#include <lethe/eval/dialog.hpp>
#include <lethe/model/config.hpp>
#include <lethe/recipe/synthetic_world.hpp>

namespace recipe_test {

// A one-layer model over the byte tokenizer's 259 ids.
inline lethe::model::llama_config small_config() {
    lethe::model::llama_config c;
    c.vocab = 259;
    c.d_model = 16;
    c.n_layers = 1;
    c.n_heads = 2;
    c.n_kv_heads = 2;
    c.d_ff = 32;
    c.max_seq = 320;
    return c;
}

// Six people, one country and one invented word, no arithmetic.
inline lethe::recipe::synthetic_world small_world() {
    lethe::recipe::world_config c;
    c.people = 6;
    c.countries = 1;
    c.words = 1;
    c.arithmetic = 0;
    return lethe::recipe::make_synthetic_world(c);
}

// Rendering with the real values filled in.
inline lethe::eval::render_options filled() {
    lethe::eval::render_options o;
    o.fill = true;
    return o;
}

}  // namespace recipe_test

// lethe/eval/general_knowledge.hpp - built-in utility probes for small
// pretrained chat models: what unlearning must not destroy.
//
//   general_qa()    18 questions SmolLM2-135M-Instruct answers right greedily,
//                   both plain and under the POS sentence (18 of 40 candidates
//                   tried, docs/results.md); scored with
//                   answer_match::contains_word
//   general_mc()    the same 18 facts as 4-way multiple choice (the answer and
//                   three distractors of the same kind), scored by
//                   log-likelihood (multiple_choice.hpp)
//   general_text()  clean English for perplexity
//   general_prompts()  open requests that share no fact with the above: the
//                   prompts of a rehearsal set (recipe::self_replay_examples),
//                   so that a fine-tune keeps how the model answers without
//                   ever training on what utility is scored on
#pragma once

#include <string>
#include <vector>

#include "multiple_choice.hpp"
#include "utility.hpp"

namespace lethe::eval {

inline const std::vector<qa_item>& general_qa() {
    static const std::vector<qa_item> q = {
        {"What is the capital of France?", "Paris"},
        {"What is the capital of Japan?", "Tokyo"},
        {"What is the capital of Germany?", "Berlin"},
        {"What is the capital of England?", "London"},
        {"What is the capital of Russia?", "Moscow"},
        {"What is the capital of Egypt?", "Cairo"},
        {"What is the capital of China?", "Beijing"},
        {"What is the capital of Canada?", "Ottawa"},
        {"What is the capital of Australia?", "Canberra"},
        {"What is the chemical symbol for water?", "H2O"},
        {"Who wrote Romeo and Juliet?", "Shakespeare"},
        {"What is the opposite of hot?", "cold"},
        {"What is the opposite of up?", "down"},
        {"What is the largest ocean on Earth?", "Pacific"},
        {"What is the plural of mouse?", "mice"},
        {"What is the boiling point of water in degrees Celsius?", "100"},
        {"What is 2 plus 2?", "4"},
        {"What is the currency of Japan?", "yen"},
    };
    return q;
}

inline const std::vector<mc_item>& general_mc() {
    // The answer's position varies so a model biased to one slot scores 25%.
    static const std::vector<mc_item> q = {
        {"What is the capital of France?", {"Paris", "Lyon", "Madrid", "Rome"}, 0},
        {"What is the capital of Japan?", {"Osaka", "Tokyo", "Seoul", "Kyoto"}, 1},
        {"What is the capital of Germany?", {"Munich", "Vienna", "Berlin", "Hamburg"}, 2},
        {"What is the capital of England?", {"Manchester", "Dublin", "Edinburgh", "London"}, 3},
        {"What is the capital of Russia?", {"Moscow", "Kyiv", "Warsaw", "Minsk"}, 0},
        {"What is the capital of Egypt?", {"Alexandria", "Cairo", "Tunis", "Khartoum"}, 1},
        {"What is the capital of China?", {"Shanghai", "Hong Kong", "Beijing", "Taipei"}, 2},
        {"What is the capital of Canada?", {"Toronto", "Vancouver", "Montreal", "Ottawa"}, 3},
        {"What is the capital of Australia?", {"Canberra", "Sydney", "Melbourne", "Perth"}, 0},
        {"What is the chemical symbol for water?", {"CO2", "H2O", "NaCl", "O2"}, 1},
        {"Who wrote Romeo and Juliet?", {"Charles Dickens", "Mark Twain", "William Shakespeare", "Jane Austen"}, 2},
        {"What is the opposite of hot?", {"warm", "big", "loud", "cold"}, 3},
        {"What is the opposite of up?", {"down", "left", "over", "high"}, 0},
        {"What is the largest ocean on Earth?", {"Atlantic", "Pacific", "Indian", "Arctic"}, 1},
        {"What is the plural of mouse?", {"mouses", "mousen", "mice", "meese"}, 2},
        {"What is the boiling point of water in degrees Celsius?", {"50", "0", "212", "100"}, 3},
        {"What is 2 plus 2?", {"4", "3", "5", "22"}, 0},
        {"What is the currency of Japan?", {"dollar", "yen", "euro", "won"}, 1},
    };
    return q;
}

inline const std::vector<std::string>& general_text() {
    static const std::vector<std::string> t = {
        "The sun rises in the east and sets in the west.\n",
        "Water boils at one hundred degrees Celsius at sea level.\n",
        "Plants use sunlight to turn water and carbon dioxide into sugar.\n",
        "A week has seven days and a year has twelve months.\n",
        "The library opens at nine in the morning and closes at six in the evening.\n",
        "Please keep your receipt in case you want to return the item.\n",
        "Rivers carry water from the mountains down to the sea.\n",
        "Most birds build nests to lay their eggs in spring.\n",
    };
    return t;
}

inline const std::vector<std::string>& general_prompts() {
    static const std::vector<std::string> p = {
        "Give me three tips for staying focused while studying.",
        "Explain how a rainbow forms.",
        "Write a short poem about autumn leaves.",
        "What are some healthy breakfast ideas?",
        "How do bees make honey?",
        "Describe a good way to start learning to cook.",
        "Why is sleep important for people?",
        "Suggest a name for a friendly robot.",
        "What should I pack for a weekend hiking trip?",
        "Explain what a computer program is to a child.",
        "How can I keep my houseplants healthy?",
        "Write two sentences about the moon.",
        "What is a good way to save money each month?",
        "Why do leaves change color in the fall?",
        "Give me a simple recipe for a fruit salad.",
        "How does exercise help the heart?",
        "What are the benefits of reading books?",
        "Describe the sound of rain on a roof.",
        "How do I write a polite thank-you note?",
        "What makes a good team member?",
        "Explain why the sky looks blue.",
        "List some fun activities for a rainy day.",
        "How can I learn a new language faster?",
        "What is the difference between weather and climate?",
        "Tell me a short story about a brave cat.",
        "How do I make a cup of tea?",
        "Why should we recycle plastic?",
        "What are some ways to reduce stress?",
        "Explain what gravity does.",
        "Give me advice for a first job interview.",
        "How do fish breathe underwater?",
        "What is a healthy way to drink more water during the day?",
    };
    return p;
}

}  // namespace lethe::eval

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
//   general_mc_broad()  those 18 first, then 82 more easy facts of many kinds
//                   (geography, science, arithmetic, words, culture), chosen
//                   by hand and never filtered by any model's answers: 100
//                   questions move a score in 1-point steps where 18 move it
//                   in 5.6-point ones
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

inline const std::vector<mc_item>& general_mc_broad() {
    // {question, right answer, three distractors}; the right answer goes to
    // slot i % 4 of item i, so a model biased to one slot scores 25%.
    struct fact {
        const char* question;
        const char* right;
        const char* wrong[3];
    };
    static const fact facts[] = {
        {"What is the capital of Italy?", "Rome", {"Milan", "Naples", "Venice"}},
        {"What is the capital of Spain?", "Madrid", {"Barcelona", "Seville", "Lisbon"}},
        {"What is the capital of the United States?", "Washington", {"New York", "Chicago", "Boston"}},
        {"What is the capital of India?", "New Delhi", {"Mumbai", "Kolkata", "Chennai"}},
        {"What is the capital of Brazil?", "Brasilia", {"Rio de Janeiro", "Sao Paulo", "Buenos Aires"}},
        {"What is the capital of Greece?", "Athens", {"Sparta", "Thessaloniki", "Sofia"}},
        {"What is the capital of Mexico?", "Mexico City", {"Guadalajara", "Cancun", "Bogota"}},
        {"What is the capital of South Korea?", "Seoul", {"Busan", "Pyongyang", "Tokyo"}},
        {"What is the capital of Turkey?", "Ankara", {"Istanbul", "Izmir", "Athens"}},
        {"What is the capital of Norway?", "Oslo", {"Stockholm", "Copenhagen", "Bergen"}},
        {"What is the capital of Poland?", "Warsaw", {"Krakow", "Prague", "Budapest"}},
        {"What is the capital of Argentina?", "Buenos Aires", {"Santiago", "Lima", "Montevideo"}},
        {"What is the capital of Thailand?", "Bangkok", {"Hanoi", "Manila", "Jakarta"}},
        {"What is the capital of Ireland?", "Dublin", {"Cork", "Belfast", "Edinburgh"}},
        {"What is the longest river in Africa?", "Nile", {"Congo", "Niger", "Zambezi"}},
        {"What is the tallest mountain in the world?", "Mount Everest", {"K2", "Mont Blanc", "Kilimanjaro"}},
        {"On which continent is Brazil?", "South America", {"Africa", "Europe", "Asia"}},
        {"On which continent is Kenya?", "Africa", {"South America", "Europe", "Australia"}},
        {"Which ocean lies between Europe and North America?", "Atlantic", {"Pacific", "Indian", "Arctic"}},
        {"What is the largest country by area?", "Russia", {"Canada", "China", "Brazil"}},
        {"In which country are the Great Pyramids of Giza?", "Egypt", {"Mexico", "Peru", "Greece"}},
        {"In which city is the Eiffel Tower?", "Paris", {"London", "Rome", "Berlin"}},
        {"What is the largest planet in the solar system?", "Jupiter", {"Saturn", "Earth", "Mars"}},
        {"Which planet is known as the Red Planet?", "Mars", {"Venus", "Jupiter", "Neptune"}},
        {"Which planet is closest to the Sun?", "Mercury", {"Venus", "Earth", "Mars"}},
        {"What is the star at the center of our solar system?", "the Sun", {"the Moon", "Sirius", "Polaris"}},
        {"What gas do plants take from the air to make their food?", "carbon dioxide", {"oxygen", "helium", "neon"}},
        {"What gas do people need to breathe to stay alive?", "oxygen", {"carbon dioxide", "helium", "neon"}},
        {"What is the chemical symbol for gold?", "Au", {"Ag", "Fe", "Gd"}},
        {"What is the chemical symbol for iron?", "Fe", {"Ir", "In", "Au"}},
        {"How many legs does a spider have?", "8", {"6", "4", "10"}},
        {"How many legs does an insect have?", "6", {"8", "4", "10"}},
        {"What is the freezing point of water in degrees Celsius?", "0", {"100", "32", "50"}},
        {"Which organ pumps blood through the body?", "heart", {"lungs", "liver", "stomach"}},
        {"What force pulls objects toward the Earth?", "gravity", {"magnetism", "friction", "wind"}},
        {"What do bees make?", "honey", {"milk", "silk", "cheese"}},
        {"What is the largest mammal?", "blue whale", {"elephant", "giraffe", "hippopotamus"}},
        {"What is frozen water called?", "ice", {"steam", "fog", "sand"}},
        {"What is the hardest natural substance?", "diamond", {"gold", "iron", "glass"}},
        {"Which part of a plant makes food from sunlight?", "leaf", {"root", "flower", "seed"}},
        {"What color do you get when you mix blue and yellow?", "green", {"purple", "orange", "red"}},
        {"What color do you get when you mix red and white?", "pink", {"green", "blue", "black"}},
        {"What do caterpillars turn into?", "butterflies", {"beetles", "spiders", "bees"}},
        {"How many continents are there?", "7", {"3", "9", "12"}},
        {"What is the largest land animal?", "elephant", {"giraffe", "horse", "lion"}},
        {"Which animal gives us wool?", "sheep", {"cow", "pig", "horse"}},
        {"What is 3 times 4?", "12", {"7", "10", "14"}},
        {"What is 10 minus 3?", "7", {"13", "6", "30"}},
        {"What is 5 plus 6?", "11", {"10", "12", "56"}},
        {"What is half of 10?", "5", {"2", "20", "15"}},
        {"What is 9 divided by 3?", "3", {"6", "12", "27"}},
        {"What is 100 divided by 10?", "10", {"1", "100", "1000"}},
        {"What is the square root of 9?", "3", {"9", "81", "6"}},
        {"How many sides does a triangle have?", "3", {"4", "5", "6"}},
        {"How many sides does a square have?", "4", {"3", "5", "6"}},
        {"How many minutes are in an hour?", "60", {"100", "30", "24"}},
        {"How many hours are in a day?", "24", {"12", "60", "7"}},
        {"How many days are in a week?", "7", {"5", "10", "12"}},
        {"How many months are in a year?", "12", {"10", "7", "52"}},
        {"What is the smallest prime number?", "2", {"1", "0", "9"}},
        {"What is the opposite of big?", "small", {"tall", "wide", "heavy"}},
        {"What is the opposite of fast?", "slow", {"quick", "loud", "early"}},
        {"What is the opposite of day?", "night", {"morning", "week", "sun"}},
        {"What is the opposite of open?", "closed", {"empty", "full", "wide"}},
        {"What is the opposite of happy?", "sad", {"glad", "calm", "funny"}},
        {"What is the plural of child?", "children", {"childs", "childes", "childer"}},
        {"What is the plural of foot?", "feet", {"foots", "feets", "footes"}},
        {"What is the plural of tooth?", "teeth", {"tooths", "teeths", "toothes"}},
        {"What is the past tense of go?", "went", {"goed", "goes", "going"}},
        {"What is the past tense of eat?", "ate", {"eated", "eats", "eating"}},
        {"What is a baby cat called?", "kitten", {"puppy", "calf", "foal"}},
        {"What is a baby dog called?", "puppy", {"kitten", "foal", "chick"}},
        {"Who painted the Mona Lisa?", "Leonardo da Vinci", {"Pablo Picasso", "Vincent van Gogh", "Claude Monet"}},
        {"Who was the first President of the United States?", "George Washington",
         {"Abraham Lincoln", "Thomas Jefferson", "John Adams"}},
        {"Who developed the theory of relativity?", "Albert Einstein", {"Isaac Newton", "Charles Darwin", "Galileo Galilei"}},
        {"What language is spoken in Brazil?", "Portuguese", {"Spanish", "English", "French"}},
        {"What is the currency of the United Kingdom?", "pound", {"euro", "dollar", "yen"}},
        {"Which musical instrument has 88 keys?", "piano", {"guitar", "violin", "drum"}},
        {"What does a thermometer measure?", "temperature", {"weight", "speed", "time"}},
        {"What is the main ingredient of bread?", "flour", {"sugar", "rice", "cheese"}},
        {"Which fruit is long, curved and yellow?", "banana", {"apple", "grape", "cherry"}},
        {"What is the first month of the year?", "January", {"March", "December", "June"}},
    };
    static const std::vector<mc_item> q = [] {
        std::vector<mc_item> v = general_mc();
        for (const fact& f : facts) {
            const auto at = static_cast<index_t>(v.size() % 4);
            mc_item it{f.question, {f.wrong[0], f.wrong[1], f.wrong[2]}, at};
            it.choices.insert(it.choices.begin() + at, f.right);
            v.push_back(std::move(it));
        }
        return v;
    }();
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

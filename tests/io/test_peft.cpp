#define BOOST_TEST_MODULE peft
#include <lethe/io/peft.hpp>

#include <filesystem>

#include "lethe_test.hpp"
#include "test_safetensors_support.hpp"

namespace fs = std::filesystem;
using namespace lethe::io;
using lethe_test::error_of;

namespace {

lora_adapter_config tiny_config() {
    lora_adapter_config c;
    c.r = 4;
    c.lora_alpha = 8;
    c.lora_dropout = 0.05;
    c.target_modules = {"q_proj", "v_proj"};
    c.base_model_name_or_path = "lethe/tiny-llama";
    return c;
}

// LoRA matrices of a 2-layer model with d = 16 and a GQA v_proj of 8
// outputs: A [r, in], B [out, r], values seeded per matrix.
struct tiny_adapter {
    std::vector<std::string> modules;
    std::vector<std::vector<float>> a, b;
    std::vector<std::int64_t> out;
    explicit tiny_adapter(std::int64_t r, std::uint32_t seed = 7) {
        for (int layer = 0; layer < 2; ++layer)
            for (const char* m : {"q_proj", "v_proj"}) {
                modules.push_back("model.layers." + std::to_string(layer) + ".self_attn." + m);
                out.push_back(std::string(m) == "q_proj" ? 16 : 8);
                a.push_back(lethe_test::random_normal<float>(static_cast<std::size_t>(r * 16), seed++));
                b.push_back(lethe_test::random_normal<float>(static_cast<std::size_t>(out.back() * r), seed++));
            }
    }
    safetensors_writer writer(std::int64_t r, dtype t = dtype::f32) const {
        safetensors_writer w;
        for (std::size_t i = 0; i < modules.size(); ++i) {
            w.add(peft_lora_tensor_name(modules[i], lora_matrix::a), {r, 16}, a[i].data(), t);
            w.add(peft_lora_tensor_name(modules[i], lora_matrix::b), {out[i], r}, b[i].data(), t);
        }
        return w;
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(peft)

BOOST_AUTO_TEST_CASE(names_follow_the_peft_convention) {
    BOOST_CHECK_EQUAL(peft_lora_tensor_name("model.layers.0.self_attn.q_proj", lora_matrix::a),
                      "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
    BOOST_CHECK_EQUAL(peft_lora_tensor_name("model.layers.11.mlp.down_proj", lora_matrix::b),
                      "base_model.model.model.layers.11.mlp.down_proj.lora_B.weight");
}

BOOST_AUTO_TEST_CASE(write_then_read_round_trip) {
    lethe_test::scratch_dir dir("peft");
    const fs::path ad = dir.path / "unlearned-adapter";
    const auto cfg = tiny_config();
    const tiny_adapter t(cfg.r);
    write_peft_adapter(ad, cfg, t.writer(cfg.r));
    BOOST_CHECK((dir.entries() == std::vector<std::string>{"unlearned-adapter"}));  // no temporaries left
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(ad)) files.push_back(e.path().filename().string());
    std::sort(files.begin(), files.end());
    BOOST_CHECK((files == std::vector<std::string>{"adapter_config.json", "adapter_model.safetensors"}));

    // The JSON carries PEFT's required fields with PEFT's spellings.
    const auto j = nlohmann::json::parse(lethe_test::read_file((ad / "adapter_config.json").string()));
    BOOST_CHECK_EQUAL(j.at("peft_type"), "LORA");
    BOOST_CHECK_EQUAL(j.at("task_type"), "CAUSAL_LM");
    BOOST_CHECK(j.at("lora_alpha").is_number_integer());  // PEFT writes an int alpha
    BOOST_CHECK_EQUAL(j.at("r"), 4);
    BOOST_CHECK(j.at("target_modules") == nlohmann::json({"q_proj", "v_proj"}));

    const auto back = read_peft_adapter(ad);
    BOOST_CHECK_EQUAL(back.config.r, 4);
    BOOST_CHECK_EQUAL(back.config.lora_alpha, 8.0);
    BOOST_CHECK_EQUAL(back.config.lora_dropout, 0.05);
    BOOST_CHECK_EQUAL(back.config.scaling(), 2.0);
    BOOST_CHECK_EQUAL(back.config.base_model_name_or_path, "lethe/tiny-llama");
    BOOST_CHECK((back.config.target_modules == cfg.target_modules));
    BOOST_CHECK_EQUAL(back.weights.size(), 8u);
    for (std::size_t i = 0; i < t.modules.size(); ++i) {
        std::vector<float> a(t.a[i].size()), b(t.b[i].size());
        back.weights.load_into(peft_lora_tensor_name(t.modules[i], lora_matrix::a), {4, 16}, a.data(), dtype::f32);
        back.weights.load_into(peft_lora_tensor_name(t.modules[i], lora_matrix::b), {t.out[i], 4}, b.data());
        BOOST_CHECK(a == t.a[i]);  // F32 is stored bit for bit
        BOOST_CHECK(b == t.b[i]);
    }
}

BOOST_AUTO_TEST_CASE(overwrite_is_all_or_nothing) {
    lethe_test::scratch_dir dir("peft");
    const fs::path ad = dir.path / "adapter";
    auto cfg = tiny_config();
    const tiny_adapter v1(cfg.r, 100), v2(cfg.r, 200);
    write_peft_adapter(ad, cfg, v1.writer(cfg.r));
    cfg.lora_alpha = 32;
    write_peft_adapter(ad, cfg, v2.writer(cfg.r, dtype::bf16));  // replaces v1
    {
        const auto back = read_peft_adapter(ad);
        BOOST_CHECK_EQUAL(back.config.lora_alpha, 32.0);
        BOOST_CHECK(back.weights.tensors().front().type == dtype::bf16);
    }
    const std::string cfg_before = lethe_test::read_file((ad / "adapter_config.json").string());
    const std::string w_before = lethe_test::read_file((ad / "adapter_model.safetensors").string());
    // Weights of rank 2 under a config of rank 4: refused after writing the
    // temporary directory; the adapter on disk stays the complete v2.
    const tiny_adapter bad(2);
    const std::string msg = error_of([&] { write_peft_adapter(ad, cfg, bad.writer(2)); });
    BOOST_CHECK_MESSAGE(msg.find("lora_A.weight'") != std::string::npos && msg.find("r = 4") != std::string::npos, msg);
    BOOST_CHECK_EQUAL(lethe_test::read_file((ad / "adapter_config.json").string()), cfg_before);
    BOOST_CHECK_EQUAL(lethe_test::read_file((ad / "adapter_model.safetensors").string()), w_before);
    BOOST_CHECK((dir.entries() == std::vector<std::string>{"adapter"}));
    // A target that is a regular file is refused, not replaced.
    write_file_atomic(dir.path / "file", "x");
    BOOST_CHECK_THROW(write_peft_adapter(dir.path / "file", cfg, v1.writer(cfg.r)), lethe::error);
    BOOST_CHECK_EQUAL(lethe_test::read_file((dir.path / "file").string()), "x");
}

// Integral alphas are written as JSON integers (as PEFT does); alphas beyond
// int64 or with a fraction stay doubles and read back unchanged (the fuzzer
// found the int64 cast of 4.9e105 undefined).
BOOST_AUTO_TEST_CASE(alpha_round_trips_at_any_magnitude) {
    for (const double a : {16.0, 0.5, -3.0, 4.88889e105, -1e300, 9.3e18, 0x1p53}) {
        lora_adapter_config c = tiny_config();
        c.lora_alpha = a;
        const nlohmann::json j = to_json(c);
        BOOST_TEST_CONTEXT("alpha " << a) {
            BOOST_CHECK_EQUAL(j["lora_alpha"].is_number_integer(), std::abs(a) < 0x1p53 && a == std::trunc(a));
            BOOST_CHECK_EQUAL(lora_adapter_config_from_json(j, "x").lora_alpha, a);
        }
    }
}

BOOST_AUTO_TEST_CASE(config_errors_name_the_field) {
    const auto good = to_json(tiny_config());
    struct bad_case {
        const char* field;
        nlohmann::json value;  // null: remove the field
        const char* expect;
    };
    const std::vector<bad_case> cases = {
        {"peft_type", "IA3", "field 'peft_type' is 'IA3'"},
        {"peft_type", nullptr, "field 'peft_type' is missing"},
        {"r", 0, "field 'r' must be a positive integer"},
        {"r", 4.5, "field 'r' must be a positive integer"},
        {"r", nullptr, "field 'r' is missing"},
        {"lora_alpha", "16", "field 'lora_alpha' must be a finite number"},
        {"lora_dropout", 1.5, "field 'lora_dropout' must be a number in [0, 1)"},
        {"target_modules", nlohmann::json::array(), "field 'target_modules' must be a non-empty list"},
        {"target_modules", nlohmann::json({"q_proj", 3}), "field 'target_modules' holds a non-string"},
        {"task_type", 5, "field 'task_type' is not a string"},
        {"fan_in_fan_out", "no", "field 'fan_in_fan_out' is not a boolean"},
    };
    for (const auto& c : cases) {
        nlohmann::json j = good;
        if (c.value.is_null())
            j.erase(c.field);
        else
            j[c.field] = c.value;
        const std::string msg = error_of([&] { lora_adapter_config_from_json(j, "adapter_config.json"); });
        BOOST_CHECK_MESSAGE(msg.find(c.expect) != std::string::npos && msg.find("adapter_config.json") != std::string::npos,
                            c.field << ": " << msg);
    }
    // A regex target_modules string is kept, not rejected.
    nlohmann::json j = good;
    j["target_modules"] = ".*\\.(q|v)_proj";
    BOOST_CHECK_EQUAL(lora_adapter_config_from_json(j, "x").target_modules_regex, ".*\\.(q|v)_proj");
    // Unknown PEFT fields (rank_pattern, use_rslora, ...) are ignored.
    j["use_rslora"] = false;
    BOOST_CHECK_NO_THROW(lora_adapter_config_from_json(j, "x"));
}

BOOST_AUTO_TEST_CASE(weight_errors_name_the_tensor) {
    const auto cfg = tiny_config();
    const std::vector<float> x(64, 0.1f);
    const auto check = [&](const safetensors_writer& w, const std::string& expect) {
        const auto f = safetensors_file::from_bytes(w.serialize(), "adapter_model.safetensors");
        const std::string msg = error_of([&] { validate_peft_weights(cfg, f); });
        BOOST_CHECK_MESSAGE(msg.find(expect) != std::string::npos, "expected '" << expect << "' in: " << msg);
    };
    const std::string q = "model.layers.0.self_attn.q_proj";
    {
        safetensors_writer w;  // A without B
        w.add(peft_lora_tensor_name(q, lora_matrix::a), {4, 16}, x.data());
        check(w, "module 'model.layers.0.self_attn.q_proj' has lora_A but no lora_B");
    }
    {
        safetensors_writer w;  // B of the wrong rank
        w.add(peft_lora_tensor_name(q, lora_matrix::a), {4, 16}, x.data());
        w.add(peft_lora_tensor_name(q, lora_matrix::b), {16, 3}, x.data());
        check(w, "q_proj.lora_B.weight': shape [16, 3] is not [out_features, r] with r = 4");
    }
    {
        safetensors_writer w;  // not a PEFT name
        w.add("model.layers.0.self_attn.q_proj.weight", {4, 16}, x.data());
        check(w, "tensor 'model.layers.0.self_attn.q_proj.weight': is not a PEFT LoRA name");
    }
    {
        safetensors_writer w;  // a module the config does not target
        w.add(peft_lora_tensor_name("model.layers.0.mlp.up_proj", lora_matrix::a), {4, 16}, x.data());
        check(w, "module 'up_proj' is not in the config's target_modules");
    }
    {
        safetensors_writer w;
        check(w, "holds no LoRA tensors");
    }
    lethe_test::scratch_dir dir("peft");
    BOOST_CHECK_THROW(read_peft_adapter(dir.path / "absent"), lethe::error);
    fs::create_directories(dir.path / "broken");
    write_file_atomic(dir.path / "broken" / "adapter_config.json", "{\"r\": 4,");
    const std::string msg = error_of([&] { read_peft_adapter(dir.path / "broken"); });
    BOOST_CHECK_MESSAGE(msg.find("adapter_config.json") != std::string::npos && msg.find("not valid JSON") != std::string::npos, msg);
}

BOOST_AUTO_TEST_SUITE_END()

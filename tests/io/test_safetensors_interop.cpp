#define BOOST_TEST_MODULE safetensors_interop
// Interop with the reference implementation (Hugging Face safetensors 0.8 via
// PyTorch 1.13), through fixtures made by tools/golden/safetensors_torch.py:
//  - lethe reads the reference's file: every value equals torch's, bitwise;
//  - lethe's writer, given the same float32 sources, dtypes and metadata,
//    produces the reference's file byte for byte (header, order, padding,
//    F16/BF16 rounding);
//  - it also writes safetensors_lethe_written.safetensors and the PEFT
//    directory safetensors_lethe_adapter/ into the test's working directory
//    for `safetensors_torch.py check` / `check-peft` (no Python needed here).
#include <lethe/io/peft.hpp>
#include <lethe/io/safetensors.hpp>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "lethe_test.hpp"

using namespace lethe::io;

namespace {

float decode(const nlohmann::json& v) {
    if (v.is_string()) {
        const std::string s = v.get<std::string>();
        if (s == "nan") return std::numeric_limits<float>::quiet_NaN();
        return s == "inf" ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
    }
    return static_cast<float>(v.get<double>());  // the fixture holds float32 values exactly
}

std::vector<float> decode_all(const nlohmann::json& a) {
    std::vector<float> out;
    for (const auto& v : a) out.push_back(decode(v));
    return out;
}

bool same_float(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

const nlohmann::json& fixture() {
    static const nlohmann::json j =
        nlohmann::json::parse(lethe_test::read_file(lethe_test::fixture_path("io/safetensors_torch.json")));
    return j;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(safetensors_interop)

BOOST_AUTO_TEST_CASE(reads_the_reference_file) {
    const safetensors_file f(lethe_test::fixture_path("io/safetensors_torch.safetensors"));
    const auto& tensors = fixture().at("tensors");
    BOOST_CHECK_EQUAL(f.size(), tensors.size());
    BOOST_CHECK_EQUAL(f.metadata().at("format"), "pt");
    for (auto it = tensors.begin(); it != tensors.end(); ++it) {
        BOOST_TEST_CONTEXT("tensor " << it.key()) {
            const auto& e = it.value();
            const tensor_info& t = f.tensor(it.key());
            BOOST_CHECK_EQUAL(dtype_name(t.type), e.at("dtype").get<std::string>());
            const auto shape = e.at("shape").get<tensor_shape>();
            BOOST_CHECK(t.shape == shape);
            if (e.at("dtype") == "I64") {
                const auto want = e.at("values").get<std::vector<std::int64_t>>();
                std::vector<std::int64_t> got(want.size());
                BOOST_REQUIRE_EQUAL(f.bytes(t).size(), got.size() * 8);
                std::memcpy(got.data(), f.bytes(t).data(), got.size() * 8);
                BOOST_CHECK(got == want);
                continue;
            }
            const auto want = decode_all(e.at("stored"));
            std::vector<float> got(want.size());
            f.load_into(it.key(), shape, got.data(), parse_dtype(e.at("dtype").get<std::string>()));
            for (std::size_t i = 0; i < want.size(); ++i)  // exact: both sides convert the same stored bits
                BOOST_CHECK_MESSAGE(same_float(got[i], want[i]), "element " << i << ": " << got[i] << " vs " << want[i]);
        }
    }
}

BOOST_AUTO_TEST_CASE(writes_the_reference_bytes) {
    const auto& tensors = fixture().at("tensors");
    std::vector<std::vector<float>> sources;
    std::vector<std::vector<std::int64_t>> ids;
    sources.reserve(tensors.size());
    safetensors_writer w;
    for (const auto& [k, v] : fixture().at("metadata").items()) w.set_metadata(k, v.get<std::string>());
    for (auto it = tensors.begin(); it != tensors.end(); ++it) {
        const auto& e = it.value();
        const auto shape = e.at("shape").get<tensor_shape>();
        const dtype t = *parse_dtype(e.at("dtype").get<std::string>());
        if (t == dtype::i64) {
            ids.push_back(e.at("values").get<std::vector<std::int64_t>>());
            w.add_raw(it.key(), t, shape, std::as_bytes(std::span(ids.back())));
        } else {
            sources.push_back(decode_all(e.at("source")));
            w.add(it.key(), shape, sources.back().data(), t);
        }
    }
    const std::string mine = w.serialize();
    const std::string ref = lethe_test::read_file(lethe_test::fixture_path("io/safetensors_torch.safetensors"));
    BOOST_CHECK_EQUAL(mine.size(), ref.size());
    std::size_t first_diff = 0;
    while (first_diff < std::min(mine.size(), ref.size()) && mine[first_diff] == ref[first_diff]) ++first_diff;
    BOOST_CHECK_MESSAGE(mine == ref, "lethe's bytes differ from the reference's from byte " << first_diff);
    // For the Python side's check (direction lethe -> PyTorch).
    w.write("safetensors_lethe_written.safetensors");
}

BOOST_AUTO_TEST_CASE(writes_a_peft_adapter_for_the_python_check) {
    lora_adapter_config c;
    c.r = 2;
    c.lora_alpha = 4;
    c.lora_dropout = 0.1;
    c.target_modules = {"q_proj", "v_proj"};
    c.base_model_name_or_path = "lethe/tiny-llama";
    const auto a = lethe_test::random_normal<float>(2 * 8, 1), b = lethe_test::random_normal<float>(8 * 2, 2);
    safetensors_writer w;
    for (const char* m : {"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"}) {
        w.add(peft_lora_tensor_name(m, lora_matrix::a), {2, 8}, a.data());
        w.add(peft_lora_tensor_name(m, lora_matrix::b), {8, 2}, b.data());
    }
    write_peft_adapter("safetensors_lethe_adapter", c, w);
    BOOST_CHECK_EQUAL(read_peft_adapter("safetensors_lethe_adapter").weights.size(), 4u);
}

BOOST_AUTO_TEST_SUITE_END()

// Exported models on a tiny random Llama and tokenizer (default suite):
//  - write_gguf_llama -> load_gguf_llama: bit-identical logits (F32, tied and
//    untied, GQA), the same token ids, types, merges, specials, chat template;
//    F16/BF16/Q8_0 matrices load within their rounding;
//  - write_gguf_lora: llama.cpp's names, dims and keys; llama.cpp's formula
//    W + alpha/r * B A on the file's tensors equals the merged model's file
//    tensors (so q/k's lora_b carries the base file's row permutation);
//    load_gguf_lora restores the adapters bit for bit;
//  - save_hf_llama -> load_hf_llama (single file and sharded): the same
//    logits and ids as the GGUF route; merges in both tokenizer.json forms;
//  - bad inputs name the file and the field; writers leave no partial file.
#define BOOST_TEST_MODULE export_llama
#include <lethe/io/gguf_llama_model.hpp>
#include <lethe/io/gguf_llama_writer.hpp>
#include <lethe/io/hf_llama.hpp>

#include <csignal>
#include <fstream>

#include <sys/resource.h>

#include "lethe_test.hpp"
#include "test_export_support.hpp"

using namespace lethe::io;
using namespace lethe_test_export;

namespace {

const auto pol = lethe::par.with_threads(1);

struct tiny {
    bpe_tokenizer tok = tiny_tokenizer();
    lethe::model::llama<float> model;
    explicit tiny(bool tied, std::uint64_t seed = 11)
        : model(tiny_config(static_cast<index_t>(tiny_tokenizer().size()) + 2, tied), pol) {
        randomize(model, seed);
        model.set_num_slots(1);
    }
};

std::vector<token_id> prompt_ids(const bpe_tokenizer& tok) {
    return tok.encode("<|im_start|>user\nHello the world 12<|im_end|>\n", {.add_special = true, .parse_special = true});
}

void write_text(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

}  // namespace

BOOST_AUTO_TEST_CASE(gguf_round_trip_is_bit_exact) {
    const auto dir = temp_dir("gguf");
    for (bool tied : {false, true}) {
        BOOST_TEST_CONTEXT("tied " << tied) {
            tiny t(tied);
            const std::string jinja = chat_template_jinja(chat_format::chatml) + "{# lethe test #}";
            const auto path = dir / (tied ? "tied.gguf" : "untied.gguf");
            write_gguf_llama(path, t.model, t.tok, jinja, {.name = "tiny"});
            const auto f = gguf_file::open(path);
            BOOST_TEST(f.get_string("general.architecture") == "llama");
            BOOST_TEST(f.get_string("tokenizer.ggml.pre") == "smollm");
            BOOST_TEST(f.get_string("tokenizer.chat_template") == jinja);
            BOOST_TEST((f.find_tensor("output.weight") == nullptr) == tied);
            BOOST_TEST(f.tensors().size() == 2u + 9u * 2u + (tied ? 0u : 1u));
            BOOST_TEST((f.tensor("blk.1.attn_k.weight").dims == std::vector<std::int64_t>{32, 16}));  // [in, out]
            // q rows are permuted in the file: row 1 of head 0 holds HF row hd/2.
            const auto& q = t.model.params().view(t.model.tensors().layers[0].q);
            const float* fq = reinterpret_cast<const float*>(f.tensor("blk.0.attn_q.weight").data);
            BOOST_TEST(fq[1 * 32 + 3] == q(4, 3));  // hd = 8: file row 1 = HF row 4
            BOOST_TEST(fq[2 * 32 + 3] == q(1, 3));

            auto back = load_gguf_llama(path, {.max_seq = 64, .slots = 1, .policy = pol});
            BOOST_TEST(back.chat_template_text == jinja);
            BOOST_TEST((back.chat.format() == chat_format::chatml));
            const auto& c0 = t.model.config();
            const auto& c1 = back.model.config();
            BOOST_TEST(c1.vocab == c0.vocab);
            BOOST_TEST(c1.n_kv_heads == c0.n_kv_heads);
            BOOST_TEST(c1.tied_embeddings == tied);
            BOOST_TEST(float(c1.norm_eps) == float(c0.norm_eps));
            BOOST_TEST(std::memcmp(back.model.params().data(), t.model.params().data(),
                                   sizeof(float) * std::size_t(t.model.params().size())) == 0);
            const auto ids = prompt_ids(t.tok);
            const auto a = run(t.model, ids, {5, 77, 200});
            const auto b = run(back.model, ids, {5, 77, 200});
            BOOST_TEST(bit_equal(a, b), "max |logit diff| " << max_abs_diff(a, b));
            // Tokenizer: padded with two unused tokens, otherwise the same.
            BOOST_TEST(back.tokenizer.size() == t.tok.size() + 2);
            BOOST_TEST((back.tokenizer.type(token_id(t.tok.size())) == token_type::unused));
            for (std::size_t i = 0; i < t.tok.size(); ++i) {
                BOOST_TEST(back.tokenizer.token_text(token_id(i)) == t.tok.token_text(token_id(i)));
                BOOST_TEST((back.tokenizer.type(token_id(i)) == t.tok.type(token_id(i))));
            }
            BOOST_TEST(back.tokenizer.vocabulary().merges == t.tok.vocabulary().merges);
            BOOST_TEST(back.tokenizer.bos() == 1);
            BOOST_TEST(back.tokenizer.eos() == 2);
            BOOST_TEST(back.tokenizer.vocabulary().unk == 0);
            BOOST_TEST(back.tokenizer.vocabulary().pad == 2);
            for (const auto& s : sample_texts())
                for (bool special : {false, true})
                    BOOST_TEST((back.tokenizer.encode(s, {.add_special = true, .parse_special = special}) ==
                                t.tok.encode(s, {.add_special = true, .parse_special = special})),
                               s);
        }
    }
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(gguf_matrices_in_f16_bf16_q8_0) {
    const auto dir = temp_dir("types");
    tiny t(false);
    const auto ids = prompt_ids(t.tok);
    const auto ref = run(t.model, ids);
    for (auto type : {ggml_type::f16, ggml_type::bf16, ggml_type::q8_0}) {
        BOOST_TEST_CONTEXT(ggml_traits(type).name) {
            const auto path = dir / "m.gguf";
            write_gguf_llama(path, t.model, t.tok, chat_template(chat_format::chatml), {.matrices = type});
            const auto f = gguf_file::open(path);
            BOOST_TEST((f.tensor("blk.0.ffn_down.weight").type == type));
            BOOST_TEST((f.tensor("blk.0.attn_norm.weight").type == ggml_type::f32));
            auto back = load_gguf_llama(path, {.max_seq = 64, .slots = 1, .policy = pol});
            // Every weight within its type's rounding of the original.
            const double rel = type == ggml_type::bf16 ? 1.0 / 256 : type == ggml_type::f16 ? 1.0 / 2048 : 0.0;
            const auto& p0 = t.model.params();
            const auto& p1 = back.model.params();
            double worst = 0;
            for (index_t i = 0; i < p0.size(); ++i) {
                const double x = p0.data()[i], y = p1.data()[i];
                worst = std::max(worst, std::abs(x - y));
                // (F16 subnormals below 2^-14: half a step of 2^-24 absolute.)
                if (rel > 0) BOOST_TEST(std::abs(x - y) <= rel * std::abs(x) + (type == ggml_type::f16 ? 0x1p-25 : 0.0));
            }
            // Q8_0: the weights are N(0, 0.2): a block's max is < 1.2, half a step < 0.005.
            BOOST_TEST(worst <= 0.006);
            const auto got = run(back.model, ids);
            BOOST_TEST_MESSAGE(ggml_traits(type).name << ": max weight error " << worst << ", max logit diff "
                                                     << max_abs_diff(got, ref));
            BOOST_TEST(max_abs_diff(got, ref) < 0.25);
            BOOST_TEST(max_abs_diff(got, ref) > 0.0);
        }
    }
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(lora_gguf_has_llama_cpp_layout_and_round_trips) {
    const auto dir = temp_dir("lora");
    tiny t(false);
    lethe::model::lora_config lc;
    lc.rank = 4;
    lc.alpha = 6.0;
    t.model.enable_lora(lc, 3);
    randomize_lora_b(t.model, 5, 0.3);
    const auto ids = prompt_ids(t.tok);
    const auto unmerged = run(t.model, ids);
    write_gguf_lora(dir / "adapter.gguf", t.model);
    LETHE_CHECK_THROWS_WITH(write_gguf_llama(dir / "x.gguf", t.model, t.tok, chat_template()), "not merged");
    write_gguf_llama(dir / "base.gguf", t.model, t.tok, chat_template(), {.allow_unmerged_lora = true});
    t.model.merge_lora();
    const auto merged = run(t.model, ids);
    write_gguf_llama(dir / "merged.gguf", t.model, t.tok, chat_template());
    BOOST_TEST_MESSAGE("merged vs unmerged: max |logit diff| " << max_abs_diff(merged, unmerged));
    BOOST_TEST(max_abs_diff(merged, unmerged) < 1e-4);

    const auto a = gguf_file::open(dir / "adapter.gguf");
    BOOST_TEST(a.get_string("general.type") == "adapter");
    BOOST_TEST(a.get_string("adapter.type") == "lora");
    BOOST_TEST(a.get_string("general.architecture") == "llama");
    BOOST_TEST((a.at("adapter.lora.alpha").type == gguf_value_type::f32));
    BOOST_TEST(a.get_f64("adapter.lora.alpha") == 6.0);
    BOOST_TEST(a.tensors().size() == 2u * 7u * 2u);
    BOOST_TEST((a.tensor("blk.0.attn_q.weight.lora_a").dims == std::vector<std::int64_t>{32, 4}));  // [in, r]
    BOOST_TEST((a.tensor("blk.0.attn_q.weight.lora_b").dims == std::vector<std::int64_t>{4, 32}));  // [r, out]
    BOOST_TEST((a.tensor("blk.1.ffn_down.weight.lora_a").dims == std::vector<std::int64_t>{64, 4}));
    BOOST_TEST((a.tensor("blk.1.ffn_down.weight.lora_b").dims == std::vector<std::int64_t>{4, 32}));

    // llama.cpp's arithmetic on the files: W_file + alpha / r * B_file A_file
    // (rank from lora_b's dims[0]) must be the merged file's tensor.
    const auto base = gguf_file::open(dir / "base.gguf");
    const auto mer = gguf_file::open(dir / "merged.gguf");
    double worst = 0;
    int checked = 0;
    for (const auto& w : base.tensors()) {
        const auto* la = a.find_tensor(w.name + ".lora_a");
        if (!la) continue;
        const auto& lb = a.tensor(w.name + ".lora_b");
        const auto A = a.dequantize(*la), B = a.dequantize(lb), W = base.dequantize(w), M = mer.dequantize(mer.tensor(w.name));
        const index_t in = w.dims[0], out = w.dims[1], r = lb.dims[0];
        const double scale = a.get_f64("adapter.lora.alpha") / double(r);
        for (index_t o = 0; o < out; ++o)
            for (index_t i = 0; i < in; ++i) {
                double ba = 0;
                for (index_t k = 0; k < r; ++k) ba += double(B[std::size_t(o * r + k)]) * A[std::size_t(k * in + i)];
                worst = std::max(worst, std::abs(W[std::size_t(o * in + i)] + scale * ba - M[std::size_t(o * in + i)]));
            }
        ++checked;
    }
    BOOST_TEST(checked == 14);
    BOOST_TEST_MESSAGE("llama.cpp formula vs merged file: max diff " << worst);
    BOOST_TEST(worst < 1e-5);

    // Back into a fresh model: the same adapters, the same logits.
    auto fresh = load_gguf_llama(dir / "base.gguf", {.max_seq = 64, .slots = 1, .policy = pol});
    load_gguf_lora(dir / "adapter.gguf", fresh.model);
    tiny again(false);  // the original adapters, unmerged
    again.model.enable_lora(lc, 3);
    randomize_lora_b(again.model, 5, 0.3);
    BOOST_REQUIRE(fresh.model.lora() != nullptr);
    BOOST_TEST(fresh.model.lora()->config().rank == 4);
    BOOST_TEST(fresh.model.lora()->config().alpha == 6.0);
    BOOST_TEST(fresh.model.lora()->params.storage() == again.model.lora()->params.storage());
    BOOST_TEST(bit_equal(run(fresh.model, ids), unmerged));

    // A q/k-only adapter: the permutation matters there.
    lethe::model::lora_config qk = lc;
    qk.targets = {"q_proj", "k_proj"};
    tiny t2(false);
    t2.model.enable_lora(qk, 8);
    randomize_lora_b(t2.model, 9, 0.5);
    write_gguf_lora(dir / "qk.gguf", t2.model, {.type = ggml_type::f32});
    auto fresh2 = load_gguf_llama(dir / "base.gguf", {.max_seq = 64, .slots = 1, .policy = pol});
    fresh2.model.disable_lora();
    load_gguf_lora(dir / "qk.gguf", fresh2.model);
    BOOST_TEST(fresh2.model.lora()->params.storage() == t2.model.lora()->params.storage());
    BOOST_TEST(a.find_tensor("blk.0.attn_norm.weight.lora_a") == nullptr);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(hf_directory_round_trip_matches_gguf) {
    const auto dir = temp_dir("hf");
    for (bool tied : {true, false}) {
        BOOST_TEST_CONTEXT("tied " << tied) {
            tiny t(tied, 21);
            const std::string jinja = chat_template_jinja(chat_format::chatml);
            save_hf_llama(dir / "hf", t.model, t.tok, jinja);
            write_gguf_llama(dir / "m.gguf", t.model, t.tok, jinja);
            BOOST_TEST(fs::exists(dir / "hf" / "tokenizer.json"));
            BOOST_TEST(fs::exists(dir / "hf" / "tokenizer_config.json"));
            auto h = load_hf_llama(dir / "hf", {.max_seq = 64, .slots = 1, .policy = pol});
            auto g = load_gguf_llama(dir / "m.gguf", {.max_seq = 64, .slots = 1, .policy = pol});
            BOOST_TEST(h.chat_template_text == jinja);
            BOOST_TEST(h.model.config().tied_embeddings == tied);
            const auto ids = prompt_ids(t.tok);
            const auto lh = run(h.model, ids, {9, 3}), lg = run(g.model, ids, {9, 3});
            BOOST_TEST(bit_equal(lh, lg), "max |logit diff| " << max_abs_diff(lh, lg));
            BOOST_TEST(bit_equal(lh, run(t.model, ids, {9, 3})));
            BOOST_TEST(h.tokenizer.size() == t.tok.size());
            BOOST_TEST(h.tokenizer.bos() == 1);
            BOOST_TEST(h.tokenizer.eos() == 2);
            BOOST_TEST(h.tokenizer.vocabulary().unk == 0);
            BOOST_TEST((h.tokenizer.vocabulary().pre == pre_tokenizer_kind::digits_then_gpt2));
            for (std::size_t i = 0; i < t.tok.size(); ++i)
                BOOST_TEST((h.tokenizer.type(token_id(i)) == t.tok.type(token_id(i))));
            for (const auto& s : sample_texts())
                for (bool special : {false, true}) {
                    const auto want = t.tok.encode(s, {.add_special = true, .parse_special = special});
                    BOOST_TEST((h.tokenizer.encode(s, {.add_special = true, .parse_special = special}) == want), s);
                    BOOST_TEST((g.tokenizer.encode(s, {.add_special = true, .parse_special = special}) == want), s);
                }
        }
    }
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(hf_sharded_weights_and_list_form_merges) {
    const auto dir = temp_dir("shards");
    tiny t(false, 31);
    save_hf_llama(dir / "one", t.model, t.tok, "");
    // Shards: embeddings + layer 0 in the first, the rest in the second.
    fs::create_directories(dir / "two");
    safetensors_writer s1, s2;
    nlohmann::json wm = nlohmann::json::object();
    for (const auto& info : t.model.params().layout().tensors()) {
        const bool first = info.name.find("layers.1") == std::string::npos && info.name.find("lm_head") == std::string::npos &&
                           info.name != "model.norm.weight";
        auto& w = first ? s1 : s2;
        const float* p = t.model.params().data() + info.offset;
        if (info.is_vector) w.add(info.name, {info.cols}, p, dtype::bf16);
        else w.add(info.name, {info.rows, info.cols}, p, dtype::bf16);
        wm[info.name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    s1.write(dir / "two" / "model-00001-of-00002.safetensors");
    s2.write(dir / "two" / "model-00002-of-00002.safetensors");
    write_text(dir / "two" / "model.safetensors.index.json", nlohmann::json{{"metadata", nlohmann::json::object()}, {"weight_map", wm}}.dump());
    fs::copy_file(dir / "one" / "config.json", dir / "two" / "config.json");
    // tokenizer.json with merges as [a, b] pairs (tokenizers >= 0.20).
    auto tj = hf_tokenizer_json(t.tok);
    nlohmann::json pairs = nlohmann::json::array();
    for (const auto& m : tj["model"]["merges"]) {
        const auto s = m.get<std::string>();
        const auto sp = s.find(' ', 1);
        pairs.push_back({s.substr(0, sp), s.substr(sp + 1)});
    }
    tj["model"]["merges"] = pairs;
    write_text(dir / "two" / "tokenizer.json", tj.dump());
    auto h1 = load_hf_llama(dir / "one", {.max_seq = 64, .slots = 1, .policy = pol});
    auto h2 = load_hf_llama(dir / "two", {.max_seq = 64, .slots = 1, .policy = pol});
    BOOST_TEST(h2.tokenizer.vocabulary().merges == h1.tokenizer.vocabulary().merges);
    BOOST_TEST(h2.tokenizer.bos() == -1);  // no tokenizer_config.json, no bos_token_id in config.json
    // BF16 shards: every weight is the BF16 rounding of the F32 one.
    bool all_rounded = true;
    for (index_t i = 0; i < h1.model.params().size(); ++i)
        all_rounded = all_rounded && h2.model.params().data()[i] == bf16_to_float(float_to_bf16(h1.model.params().data()[i]));
    BOOST_TEST(all_rounded);
    for (const auto& s : sample_texts())
        BOOST_TEST((h2.tokenizer.encode(s) == h1.tokenizer.encode(s)), s);
    // A shard missing from weight_map.
    wm.erase("model.norm.weight");
    write_text(dir / "two" / "model.safetensors.index.json", nlohmann::json{{"weight_map", wm}}.dump());
    LETHE_CHECK_THROWS_WITH(load_hf_llama(dir / "two", {.policy = pol}), "weight_map has no entry for 'model.norm.weight'");
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(hf_tokenizer_json_forms_and_errors) {
    const auto tok = tiny_tokenizer(pre_tokenizer_kind::gpt2);
    auto tj = hf_tokenizer_json(tok);
    BOOST_TEST(tj["pre_tokenizer"]["type"] == "ByteLevel");
    hf_tokenizer_files f{tj, hf_tokenizer_config_json(tok, "x<|im_start|>"), nullptr, "/d"};
    std::string jinja;
    const auto back = bpe_tokenizer_from_hf(f, &jinja);
    BOOST_TEST(jinja == "x<|im_start|>");
    BOOST_TEST((back.vocabulary().pre == pre_tokenizer_kind::gpt2));
    BOOST_TEST((back.encode("12 123") == tok.encode("12 123")));
    BOOST_TEST(back.encode("12 123") != tiny_tokenizer().encode("12 123"));  // the pre-tokenizer matters
    // chat_template as a list of named templates; bos as an AddedToken object.
    f.config["chat_template"] = {{{"name", "tool_use"}, {"template", "t"}}, {{"name", "default"}, {"template", "<|im_start|>"}}};
    f.config["bos_token"] = {{"content", "<|im_end|>"}, {"special", true}};
    const auto b2 = bpe_tokenizer_from_hf(f, &jinja);
    BOOST_TEST(jinja == "<|im_start|>");
    BOOST_TEST(b2.bos() == 2);

    auto bad = [&](auto edit, const std::string& needle) {
        hf_tokenizer_files g{hf_tokenizer_json(tok), hf_tokenizer_config_json(tok, ""), nullptr, "/d"};
        edit(g);
        LETHE_CHECK_THROWS_WITH(bpe_tokenizer_from_hf(g), needle);
    };
    bad([](hf_tokenizer_files& g) { g.tokenizer["model"].erase("merges"); }, "/d/tokenizer.json: field 'model.merges' is missing");
    bad([](hf_tokenizer_files& g) { g.tokenizer["model"].erase("vocab"); }, "field 'model.vocab' is missing");
    bad([](hf_tokenizer_files& g) { g.tokenizer["model"]["type"] = "Unigram"; }, "model.type is 'Unigram'");
    bad([](hf_tokenizer_files& g) { g.tokenizer["model"]["merges"][0] = 7; }, "model.merges[0] is neither");
    bad([](hf_tokenizer_files& g) { g.tokenizer["pre_tokenizer"] = {{"type", "Metaspace"}}; }, "pre_tokenizer {\"type\":\"Metaspace\"} is not one lethe implements");
    bad([](hf_tokenizer_files& g) { g.tokenizer["pre_tokenizer"]["add_prefix_space"] = true; }, "is not one lethe implements");
    bad([](hf_tokenizer_files& g) { g.tokenizer["normalizer"] = {{"type", "NFC"}}; }, "normalizer");
    bad([](hf_tokenizer_files& g) { g.tokenizer["model"]["byte_fallback"] = true; }, "byte_fallback");
    bad([](hf_tokenizer_files& g) { g.config["eos_token"] = "<nope>"; }, "/d/tokenizer_config.json: eos_token '<nope>' is not in the vocabulary");
    bad([](hf_tokenizer_files& g) { g.config["add_bos_token"] = "yes"; }, "field 'add_bos_token' must be a boolean");
    bad([](hf_tokenizer_files& g) { g.tokenizer["added_tokens"][0]["content"] = "<other>"; }, "added token 0 '<other>' differs");
}

BOOST_AUTO_TEST_CASE(bad_files_name_file_and_field) {
    const auto dir = temp_dir("bad");
    tiny t(false);
    save_hf_llama(dir / "hf", t.model, t.tok, chat_template_jinja(chat_format::chatml));
    write_gguf_llama(dir / "m.gguf", t.model, t.tok, chat_template());
    // config.json with a wrong field.
    fs::copy(dir / "hf", dir / "cfg", fs::copy_options::recursive);
    auto cfg = read_json_file(dir / "cfg" / "config.json", "test");
    cfg["hidden_size"] = "32";
    write_text(dir / "cfg" / "config.json", cfg.dump());
    LETHE_CHECK_THROWS_WITH(load_hf_llama(dir / "cfg", {.policy = pol}), (dir / "cfg" / "config.json").string() + ": ");
    LETHE_CHECK_THROWS_WITH(load_hf_llama(dir / "cfg", {.policy = pol}), "field 'hidden_size' must be an integer");
    cfg["hidden_size"] = 32;
    cfg["num_attention_heads"] = 5;
    write_text(dir / "cfg" / "config.json", cfg.dump());
    LETHE_CHECK_THROWS_WITH(load_hf_llama(dir / "cfg", {.policy = pol}), "num_attention_heads (5) does not divide hidden_size");
    write_text(dir / "cfg" / "config.json", "{not json");
    LETHE_CHECK_THROWS_WITH(load_hf_llama(dir / "cfg", {.policy = pol}), "config.json: invalid JSON");
    // tokenizer.json without merges.
    fs::copy(dir / "hf", dir / "tok", fs::copy_options::recursive);
    auto tj = read_json_file(dir / "tok" / "tokenizer.json", "test");
    tj["model"].erase("merges");
    write_text(dir / "tok" / "tokenizer.json", tj.dump());
    LETHE_CHECK_THROWS_WITH(load_hf_llama(dir / "tok", {.policy = pol}),
                            (dir / "tok").string() + "/tokenizer.json: field 'model.merges' is missing");
    // Truncated safetensors and GGUF.
    fs::copy(dir / "hf", dir / "st", fs::copy_options::recursive);
    fs::resize_file(dir / "st" / "model.safetensors", fs::file_size(dir / "st" / "model.safetensors") - 100);
    LETHE_CHECK_THROWS_WITH(load_hf_llama(dir / "st", {.policy = pol}), (dir / "st" / "model.safetensors").string());
    fs::copy_file(dir / "m.gguf", dir / "cut.gguf");
    fs::resize_file(dir / "cut.gguf", fs::file_size(dir / "cut.gguf") - 100);
    LETHE_CHECK_THROWS_WITH(load_gguf_llama(dir / "cut.gguf", {.policy = pol}), (dir / "cut.gguf").string());
    LETHE_CHECK_THROWS_WITH(load_gguf_llama(dir / "cut.gguf", {.policy = pol}), "file truncated?");
    fs::resize_file(dir / "cut.gguf", 1000);
    LETHE_CHECK_THROWS_WITH(load_gguf_llama(dir / "cut.gguf", {.policy = pol}), "array 'tokenizer.ggml.tokens' claims");
    // A LoRA file for another model.
    LETHE_CHECK_THROWS_WITH(load_gguf_lora(dir / "m.gguf", t.model), "general.type is '', not 'adapter'");
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(failed_writes_leave_no_partial_file) {
    const auto dir = temp_dir("fail");
    tiny t(false);
    t.model.enable_lora({.rank = 4}, 1);
    rlimit old{};
    BOOST_REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = old;
    small.rlim_cur = 16 * 1024;  // the model file is ~100 KB, the adapter ~40 KB
    BOOST_REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    const std::string e1 = lethe_test::error_of([&] {
        write_gguf_llama(dir / "m.gguf", t.model, t.tok, chat_template(), {.allow_unmerged_lora = true});
    });
    const std::string e2 = lethe_test::error_of([&] { write_gguf_lora(dir / "a.gguf", t.model); });
    t.model.merge_lora();
    const std::string e3 = lethe_test::error_of([&] { save_hf_llama(dir / "hf", t.model, t.tok, ""); });
    BOOST_REQUIRE(::setrlimit(RLIMIT_FSIZE, &old) == 0);
    std::signal(SIGXFSZ, old_handler);
    BOOST_TEST(e1.find("failed") != std::string::npos, e1);
    BOOST_TEST(e2.find("failed") != std::string::npos, e2);
    BOOST_TEST(e3.find("failed") != std::string::npos, e3);
    std::vector<std::string> left;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) left.push_back(e.path().string());
    BOOST_TEST(left.empty(), "left behind: " << (left.empty() ? "" : left.front()));
    fs::remove_all(dir);
}

// make-tiny-llama OUT.gguf: a Llama of 30k parameters with a byte-level BPE
// tokenizer (283 tokens, ChatML control tokens) and the ChatML template, as
// one GGUF file: the model lethe_unlearn_cli.sh runs every lethe-unlearn
// subcommand on in seconds, without downloading anything.
#include <lethe/io/gguf_llama_writer.hpp>

#include "../io/test_export_support.hpp"

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make-tiny-llama OUT.gguf\n");
        return 2;
    }
    try {
        auto tok = lethe_test_export::tiny_tokenizer();
        auto cfg = lethe_test_export::tiny_config(static_cast<lethe::index_t>(tok.size()), true);
        cfg.max_seq = 1024;
        lethe::model::llama<float> m(cfg);
        lethe_test_export::randomize(m, 7);
        lethe::io::write_gguf_llama(argv[1], m, tok, lethe::io::chat_template_jinja(lethe::io::chat_format::chatml),
                                    {.name = "lethe-tiny"});
        std::printf("wrote %s (%lld parameters, %zu tokens)\n", argv[1],
                    static_cast<long long>(cfg.num_parameters()), tok.size());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make-tiny-llama: %s\n", e.what());
        return 1;
    }
}

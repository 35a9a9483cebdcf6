# Writers for exported models (issue 15): the GGUF writer, merged llama and
# LoRA GGUF files, Hugging Face directories in and out.
lethe_add_test(test_gguf_writer SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gguf_writer.cpp)
# Tiny random Llama + tokenizer: GGUF model/LoRA writers and HF directories, bit-exact round trips.
lethe_add_test(test_export_llama SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_export_llama.cpp)

lethe_add_test(test_gguf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gguf.cpp)
# Needs the SmolLM2 GGUF file (scripts/get-smollm2); exits 77 (skipped) without it.
# 7 min in the dev build at load average 10 on 2 cores; 1800 s leaves room for a busier machine.
lethe_add_test(test_gguf_smollm2 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gguf_smollm2.cpp LABELS model TIMEOUT 1800)
set_tests_properties(test_gguf_smollm2 PROPERTIES SKIP_RETURN_CODE 77)
# quantized_matvec against the dequantised product, every block type.
lethe_add_test(test_gguf_matvec SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gguf_matvec.cpp)
# Quantised inference weights of the model on a synthetic GGUF llama (every block type).
lethe_add_test(test_gguf_quantized_llama SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gguf_quantized_llama.cpp)
# lethe's GGUF LoRA export as llama.cpp runs it (tests/fixtures/io/smollm2_lora_logits.json,
# tools/golden/llamacpp_lora.py); label model, skipped without the file.
lethe_add_test(test_gguf_lora_smollm2 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gguf_lora_smollm2.cpp LABELS model TIMEOUT 1800)
set_tests_properties(test_gguf_lora_smollm2 PROPERTIES SKIP_RETURN_CODE 77)

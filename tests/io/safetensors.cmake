# safetensors reader/writer and PEFT adapter directories (tests/io/test_safetensors*.cpp, test_peft*.cpp).
lethe_add_test(test_safetensors SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_safetensors.cpp)
lethe_add_test(test_safetensors_corrupt SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_safetensors_corrupt.cpp)
lethe_add_test(test_peft SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_peft.cpp)
lethe_add_test(test_safetensors_interop SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_safetensors_interop.cpp LABELS golden)

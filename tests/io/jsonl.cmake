lethe_add_test(test_jsonl SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_jsonl.cpp)

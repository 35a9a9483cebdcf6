lethe_add_test(test_jsonl SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_jsonl.cpp)
lethe_add_test(test_json_strings SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_json_strings.cpp)

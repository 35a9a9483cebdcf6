lethe_add_test(test_float16 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_float16.cpp)
lethe_add_test(test_atomic_file SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_atomic_file.cpp)

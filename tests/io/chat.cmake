# The chat program end to end on the real model (label model): one-shot and
# multi-turn greedy replies, CFG, bad arguments. Exits 77 (skipped) without
# the SmolLM2 file.
if(LETHE_BUILD_EXAMPLES)
  add_test(NAME chat_cli COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/chat_cli.sh $<TARGET_FILE:chat>)
  set_tests_properties(chat_cli PROPERTIES LABELS model SKIP_RETURN_CODE 77 TIMEOUT 600
                       ENVIRONMENT OMP_WAIT_POLICY=PASSIVE)
endif()

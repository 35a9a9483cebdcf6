# Drives the lethe-scrub program: cmake -DSCRUB=<exe> -DWORK=<dir> -P scrub_cli.cmake
file(MAKE_DIRECTORY ${WORK})
function(expect_contains what text needle)
  string(FIND "${text}" "${needle}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${what}: expected to find '${needle}' in:\n${text}")
  endif()
endfunction()

file(WRITE ${WORK}/in.txt "Mail ann@x.org or call (415) 555-2671; again ann@x.org.\n")
execute_process(COMMAND ${SCRUB} --operator numbered ${WORK}/in.txt
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "text run failed (${rc}): ${err}")
endif()
expect_contains("text output" "${out}" "Mail [EMAIL-1] or call [PHONE-1]; again [EMAIL-1].")
expect_contains("report" "${err}" "EMAIL                 2")

# Street addresses in two countries, each one ADDRESS span.
file(WRITE ${WORK}/addr.txt "Ship to 42 Baker Street, London SW1A 2AA or Hauptstraße 5, 10115 Berlin.\n")
execute_process(COMMAND ${SCRUB} --operator numbered ${WORK}/addr.txt
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "address run failed (${rc}): ${err}")
endif()
expect_contains("address output" "${out}" "Ship to [ADDRESS-1] or [ADDRESS-2].")

file(WRITE ${WORK}/in.jsonl "{\"id\": 1, \"text\": \"card 4111 1111 1111 1111\"}\nnot json\n{\"text\": \"ip 8.8.8.8\"}\n")
execute_process(COMMAND ${SCRUB} --on-malformed skip --set CREDIT_CARD=mask -o ${WORK}/out.jsonl ${WORK}/in.jsonl
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "jsonl run failed (${rc}): ${err}")
endif()
file(READ ${WORK}/out.jsonl written)
# One output line per input line: values rewritten in place, spacing and key
# order kept, the skipped line written as an empty one.
set(want "{\"id\": 1, \"text\": \"card ***************1111\"}\n\n{\"text\": \"ip <IPV4>\"}\n")
if(NOT written STREQUAL want)
  message(FATAL_ERROR "jsonl output: expected\n${want}got\n${written}")
endif()
expect_contains("skipped line" "${err}" "in.jsonl:2:2: ")
expect_contains("skipped line" "${err}" ": skipped")

execute_process(COMMAND ${SCRUB} --on-malformed fail -o ${WORK}/fail.jsonl ${WORK}/in.jsonl
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(rc EQUAL 0 OR EXISTS ${WORK}/fail.jsonl)
  message(FATAL_ERROR "a malformed line with --on-malformed fail must fail and write nothing")
endif()
expect_contains("fatal line" "${err}" "in.jsonl:2:2: ")
# On standard output too: the good first line is not printed before the failure.
execute_process(COMMAND ${SCRUB} ${WORK}/in.jsonl OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(rc EQUAL 0 OR NOT out STREQUAL "")
  message(FATAL_ERROR "a malformed line must fail and print nothing, got rc ${rc} and '${out}'")
endif()

# Blank lines, \r\n, a missing final newline and invalid UTF-8 in a value
# (scanned on both sides of the bad byte) come through as they were.
string(ASCII 255 ff)
string(ASCII 13 cr)
file(WRITE ${WORK}/odd.jsonl "{ \"z\":1,  \"m\" : \"ann@x.org${ff} 8.8.8.8\"}${cr}\n\n   \n[\"ok\"]")
execute_process(COMMAND ${SCRUB} -o ${WORK}/odd.out ${WORK}/odd.jsonl ERROR_VARIABLE err RESULT_VARIABLE rc)
file(WRITE ${WORK}/odd.want "{ \"z\":1,  \"m\" : \"<EMAIL>${ff} <IPV4>\"}${cr}\n\n   \n[\"ok\"]")
file(READ ${WORK}/odd.out got HEX)
file(READ ${WORK}/odd.want want HEX)
if(NOT rc EQUAL 0 OR NOT got STREQUAL want)
  message(FATAL_ERROR "odd jsonl (${rc}): got ${got}, want ${want}; ${err}")
endif()
expect_contains("invalid UTF-8 reported" "${err}" "odd.jsonl:1: invalid UTF-8")

# --spans: the summary counts what was found.
execute_process(COMMAND ${SCRUB} --spans ${WORK}/odd.jsonl OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
expect_contains("spans" "${out}" "\"key\":\"m\"")
expect_contains("spans summary" "${err}" "total                 2")

execute_process(COMMAND ${SCRUB} --help OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "--help failed")
endif()
expect_contains("help" "${out}" "usage: lethe-scrub")
execute_process(COMMAND ${SCRUB} --operator scramble ERROR_VARIABLE err RESULT_VARIABLE rc)
if(rc EQUAL 0)
  message(FATAL_ERROR "a bad operator must be rejected")
endif()
expect_contains("bad operator" "${err}" "scramble")
execute_process(COMMAND ${SCRUB} --frobnicate ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 2)
  message(FATAL_ERROR "an unknown option must exit with 2")
endif()
file(REMOVE_RECURSE ${WORK})

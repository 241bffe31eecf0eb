# Run by ctest (cmake -P): compiles dropped_result.cc twice with the build's
# compiler, syntax only (about a second each). Keeping every Result must
# compile; dropping them must fail with an error on each line marked DROPPED
# and on no other line. Inputs: -DCXX=, -DINCLUDE= (the public include
# directory), -DSOURCE=.
foreach(var CXX INCLUDE SOURCE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "dropped_result.cmake: -D${var}= is missing")
  endif()
endforeach()
set(flags -std=c++20 -fsyntax-only -Wall -Wextra -Werror -I${INCLUDE})

execute_process(COMMAND ${CXX} ${flags} -DPPOOL_KEEP_RESULTS ${SOURCE}
                RESULT_VARIABLE kept_rc OUTPUT_VARIABLE kept_out ERROR_VARIABLE kept_out)
if(NOT kept_rc EQUAL 0)
  message(FATAL_ERROR "the control (every Result kept) does not compile:\n${kept_out}")
endif()

execute_process(COMMAND ${CXX} ${flags} ${SOURCE}
                RESULT_VARIABLE dropped_rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(dropped_rc EQUAL 0)
  message(FATAL_ERROR "dropping a Result compiled: Result is not [[nodiscard]]")
endif()

# The lines that must fail, and the lines that did.
file(STRINGS ${SOURCE} lines)
set(expected "")
set(number 0)
foreach(line IN LISTS lines)
  math(EXPR number "${number} + 1")
  if(line MATCHES "// DROPPED$")
    list(APPEND expected ${number})
  endif()
endforeach()
get_filename_component(name ${SOURCE} NAME)
string(REGEX MATCHALL "${name}:[0-9]+:[0-9]+: error: [^\n]*" errors "${out}")
set(failed "")
foreach(error IN LISTS errors)
  if(NOT error MATCHES "nodiscard|unused-result|unused result")
    message(FATAL_ERROR "an error other than a dropped Result:\n${out}")
  endif()
  string(REGEX REPLACE "^${name}:([0-9]+):.*" "\\1" number "${error}")
  list(APPEND failed ${number})
endforeach()
list(REMOVE_DUPLICATES failed)
list(SORT failed COMPARE NATURAL)
if(NOT failed STREQUAL expected)
  message(FATAL_ERROR "lines in error: ${failed}; expected: ${expected}\n${out}")
endif()
list(LENGTH expected count)
message(STATUS "${count} dropped Results, each an error")

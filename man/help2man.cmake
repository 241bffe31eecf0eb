# One program's man page from its --help (man/CMakeLists.txt runs it):
#   cmake -DHELP2MAN=help2man -DPROGRAM=path -DINCLUDE=prog.h2m -DVERSION=x.y.z
#         -DOUTPUT=prog.1.gz -P help2man.cmake
# help2man makes the page; its "Exit status:" list, a subsection to
# help2man (it knows no such section), becomes the EXIT STATUS section,
# which comes right after OPTIONS as man-pages(7) orders them. The page is
# written beside OUTPUT unzipped too, for reading while writing --help.
foreach(var HELP2MAN PROGRAM INCLUDE VERSION OUTPUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "help2man.cmake: -D${var}= is missing")
  endif()
endforeach()
string(REGEX REPLACE "[.]gz$" "" page "${OUTPUT}")
execute_process(
  COMMAND ${HELP2MAN} --no-info --section=1 --version-string=${VERSION} "--source=ppool ${VERSION}"
    --include=${INCLUDE} --output=${page}.tmp ${PROGRAM}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man failed on ${PROGRAM} (${rc})")
endif()
file(READ ${page}.tmp text)
file(REMOVE ${page}.tmp)
string(FIND "${text}" ".SS \"Exit status:\"\n" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${PROGRAM} --help has no 'Exit status:' list for the EXIT STATUS section")
endif()
string(REPLACE ".SS \"Exit status:\"\n" ".SH \"EXIT STATUS\"\n" text "${text}")
file(WRITE ${page} "${text}")
set(INPUT ${page})
include(${CMAKE_CURRENT_LIST_DIR}/gzip.cmake)

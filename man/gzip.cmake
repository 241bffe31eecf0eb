# cmake -DINPUT=page -DOUTPUT=page.gz -P gzip.cmake: gzip -9n, as Debian
# installs man pages (-n: no name or time stamp, so the build is reproducible).
execute_process(COMMAND gzip -9n -c ${INPUT} OUTPUT_FILE ${OUTPUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUTPUT})
  message(FATAL_ERROR "gzip failed on ${INPUT}")
endif()

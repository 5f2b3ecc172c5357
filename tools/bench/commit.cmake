# Run at build time (cmake -P) by magpie-bench's build: writes OUT with the line
#   #define MAGPIE_COMMIT "<git describe --always --dirty of SRC>"
# and touches it only when that changed, so a rebuild after a commit (or after edits)
# names the build it made. Outside a git checkout: "unknown".
execute_process(COMMAND git describe --always --dirty --abbrev=10
                WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT commit)
  set(commit unknown)
endif()
set(text "#define MAGPIE_COMMIT \"${commit}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUT} "${text}")
endif()

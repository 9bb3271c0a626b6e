# Script mode (cmake -P): writes OUTPUT from src/core/version.h.in with the current git commit,
# touching the file only when its content would change.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
  OUTPUT_VARIABLE PRIMUS_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SOURCE_DIR}
  OUTPUT_VARIABLE PRIMUS_GIT_DIRTY OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT PRIMUS_GIT_COMMIT)
  set(PRIMUS_GIT_COMMIT "unknown")
elseif(PRIMUS_GIT_DIRTY)
  set(PRIMUS_GIT_COMMIT "${PRIMUS_GIT_COMMIT}-dirty")
endif()
set(PROJECT_VERSION ${VERSION})
configure_file(${SOURCE_DIR}/src/core/version.h.in ${OUTPUT}.tmp @ONLY)
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUTPUT}.tmp ${OUTPUT})
file(REMOVE ${OUTPUT}.tmp)

# The git commit is baked into the binary for `primus --version` and benchmark preambles.
execute_process(COMMAND git rev-parse --short=12 HEAD
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR} OUTPUT_VARIABLE PRIMUS_GIT_COMMIT
  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
execute_process(COMMAND git status --porcelain --untracked-files=no
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR} OUTPUT_VARIABLE PRIMUS_GIT_DIRTY
  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT PRIMUS_GIT_COMMIT)
  set(PRIMUS_GIT_COMMIT "unknown")
elseif(PRIMUS_GIT_DIRTY)
  set(PRIMUS_GIT_COMMIT "${PRIMUS_GIT_COMMIT}-dirty")
endif()
configure_file(${CMAKE_SOURCE_DIR}/src/core/version.h.in ${CMAKE_BINARY_DIR}/generated/primus/version.h @ONLY)

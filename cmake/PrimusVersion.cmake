# The git commit is baked into the binary for `primus --version` and benchmark preambles. It is
# refreshed on every build (not only at configure time); the header is rewritten only when the
# commit changes, so an unchanged tree recompiles nothing.
set(PRIMUS_VERSION_HEADER ${CMAKE_BINARY_DIR}/generated/primus/version.h)
add_custom_target(primus_version
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${CMAKE_SOURCE_DIR} -DOUTPUT=${PRIMUS_VERSION_HEADER}
          -DVERSION=${PROJECT_VERSION} -P ${CMAKE_CURRENT_LIST_DIR}/WriteVersion.cmake
  BYPRODUCTS ${PRIMUS_VERSION_HEADER}
  COMMENT "" VERBATIM)

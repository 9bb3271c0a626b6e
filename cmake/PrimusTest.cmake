# primus_test(<name> LABEL <label> LIBS <targets...>): one GoogleTest binary from every *.cpp in the
# calling folder, each test registered with CTest under the given label.
include(GoogleTest)
function(primus_test name)
  cmake_parse_arguments(ARG "" "LABEL" "LIBS;SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    file(GLOB ARG_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  endif()
  if(NOT ARG_SOURCES)
    return()
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main primus_warnings)
  target_compile_definitions(${name} PRIVATE
    PRIMUS_SOURCE_DIR="${CMAKE_SOURCE_DIR}" PRIMUS_BINARY_DIR="${CMAKE_BINARY_DIR}"
    PRIMUS_EXE="$<TARGET_FILE:primus>")
  gtest_discover_tests(${name} PROPERTIES LABELS ${ARG_LABEL} DISCOVERY_TIMEOUT 60)
endfunction()

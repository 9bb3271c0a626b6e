# One interface target carrying the project's warning flags; every primus target links it.
add_library(primus_warnings INTERFACE)
target_compile_options(primus_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter -Werror=return-type>)

# primus_library(<folder> DEPS <targets...>): the library target primus_<folder> from every *.cpp
# in the calling folder. Headers are included as "<folder>/x.h" (src/ is the include root).
function(primus_library folder)
  cmake_parse_arguments(ARG "" "" "DEPS;SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    file(GLOB ARG_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  endif()
  if(ARG_SOURCES)
    add_library(primus_${folder} STATIC ${ARG_SOURCES})
    target_link_libraries(primus_${folder} PUBLIC ${ARG_DEPS} PRIVATE primus_warnings)
    target_include_directories(primus_${folder} PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_BINARY_DIR}/generated)
  else()
    add_library(primus_${folder} INTERFACE)
    target_link_libraries(primus_${folder} INTERFACE ${ARG_DEPS})
    target_include_directories(primus_${folder} INTERFACE ${CMAKE_SOURCE_DIR}/src ${CMAKE_BINARY_DIR}/generated)
  endif()
endfunction()

# trainscope_add_plugin(<name> SOURCES <src>... [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
#
# Builds a trainscope plugin: a MODULE library lib<name>.so that links only trainscope::sdk
# (which brings libtorch), with hidden symbol visibility so that the only exported symbol is
# the TRAINSCOPE_PLUGIN entry point. Two plugins can then define the same internal names
# without interposing each other.
#
#   OUTPUT_DIRECTORY  where the .so is written (default: ${CMAKE_BINARY_DIR}/plugins, the
#                     directory a build-tree `trainscope` searches)
#   NO_INSTALL        do not install it (test plugins); otherwise it is installed into
#                     ${CMAKE_INSTALL_LIBDIR}/trainscope/plugins, the installed search dir
#
# Works in-tree and for out-of-tree plugin projects after find_package(trainscope).
include_guard(GLOBAL)
include(GNUInstallDirs)

function(trainscope_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES")
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "trainscope_add_plugin(${name}): SOURCES is required")
  endif()
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "trainscope_add_plugin(${name}): unexpected arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_OUTPUT_DIRECTORY)
    set(arg_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/plugins")
  endif()

  add_library(${name} MODULE ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE trainscope::sdk)
  if(TARGET trainscope_warnings)  # in-tree builds share the project's warning flags
    target_link_libraries(${name} PRIVATE trainscope_warnings)
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "${name}"
    LIBRARY_OUTPUT_DIRECTORY "${arg_OUTPUT_DIRECTORY}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  # Unresolved symbols are a link error here rather than a refusal at load time. Sanitizer
  # runtimes leave symbols undefined in shared objects, so not under sanitizers.
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND NOT TRAINSCOPE_SANITIZE AND NOT TRAINSCOPE_TSAN
     AND NOT CMAKE_CXX_FLAGS MATCHES "-fsanitize")
    target_link_options(${name} PRIVATE "LINKER:-z,defs")
  endif()
  if(NOT arg_NO_INSTALL)
    install(TARGETS ${name} LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}/trainscope/plugins")
  endif()
endfunction()

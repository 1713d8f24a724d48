# cmake --install: headers, libraries and a package config for find_package(trainscope).
include(CMakePackageConfigHelpers)
install(TARGETS trainscope_proto EXPORT trainscopeTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT trainscopeTargets NAMESPACE trainscope::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/trainscope)
# The torch this build used, as a hint for consumers (they may override Torch_DIR).
set(TRAINSCOPE_TORCH_DIR_HINT "${Torch_DIR}")
configure_package_config_file(cmake/trainscopeConfig.cmake.in
  "${CMAKE_CURRENT_BINARY_DIR}/trainscopeConfig.cmake"
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/trainscope)
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/trainscopeConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/trainscopeConfig.cmake"
              "${CMAKE_CURRENT_BINARY_DIR}/trainscopeConfigVersion.cmake"
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/trainscope)

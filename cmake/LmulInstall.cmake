# Install rules: `cmake --install BUILD --prefix P` gives
#   P/include/lmul/<layer>/...h          the layers' headers, in their folders (base/, numeric/, ...)
#   P/lib/liblmul_<name>.a               the layer libraries
#   P/lib/cmake/lmul/lmulConfig.cmake    find_package(lmul) -> lmul::base, lmul::numeric,
#                                        lmul::kernels, lmul::engine_io, lmul::tokenizer,
#                                        lmul::engine, lmul::eval, lmul::precision,
#                                        lmul::energy, lmul::hw (those the build has)
#   P/lib/pkgconfig/lmul.pc              pkg-config --cflags --libs lmul (all of them)
#   P/bin/lmul                           the CLI
# Consumers include as in the tree: #include "engine/model/model.h" (include dir: include/lmul).
# Tested by tests/consumer (ctest -R lmul_install_consumer).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# lmul_install_libraries(TARGET...): installs and exports each existing target as lmul::<name>
# (<name> = the target without its lmul_ prefix). The layers' in-tree include directory
# (the source root) becomes a build-tree-only one; installed consumers get include/lmul.
# List dependencies before the targets that use them (the order of pkg-config's -l flags is
# the reverse).
function(lmul_install_libraries)
  set(installed "")
  set(defs "")
  set(uses_json OFF)
  foreach(t IN LISTS ARGN)
    if(NOT TARGET ${t})
      continue()
    endif()
    string(REGEX REPLACE "^lmul_" "" name "${t}")
    get_target_property(dirs ${t} INTERFACE_INCLUDE_DIRECTORIES)
    set(fixed "")
    foreach(d IN LISTS dirs)
      if(d AND (d STREQUAL PROJECT_SOURCE_DIR OR d MATCHES "^${PROJECT_SOURCE_DIR}/"))
        list(APPEND fixed "$<BUILD_INTERFACE:${d}>")
      elseif(d)
        list(APPEND fixed "${d}")
      endif()
    endforeach()
    list(APPEND fixed "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/lmul>")
    set_target_properties(${t} PROPERTIES EXPORT_NAME ${name} INTERFACE_INCLUDE_DIRECTORIES "${fixed}")
    install(TARGETS ${t} EXPORT lmulTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
    get_target_property(d ${t} INTERFACE_COMPILE_DEFINITIONS)
    if(d)
      list(APPEND defs ${d})
    endif()
    get_target_property(libs ${t} INTERFACE_LINK_LIBRARIES)
    if(libs MATCHES "nlohmann_json")
      set(uses_json ON)
    endif()
    get_target_property(type ${t} TYPE)
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      list(PREPEND installed "-l${t}")
    endif()
  endforeach()

  # Headers: every layer folder's *.h / *.inc, tests and test helpers left out.
  foreach(layer base numeric kernels engine eval analysis hw)
    if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/${layer})
      install(DIRECTORY ${PROJECT_SOURCE_DIR}/${layer} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lmul
              FILES_MATCHING PATTERN "*.h" PATTERN "*.inc"
              PATTERN "*_test.h" EXCLUDE PATTERN "testing" EXCLUDE PATTERN "cuda" EXCLUDE)
    endif()
  endforeach()
  if(TARGET lmul)
    install(TARGETS lmul RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()

  set(cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/lmul)
  install(EXPORT lmulTargets NAMESPACE lmul:: DESTINATION ${cmake_dir})
  set(LMUL_FIND_JSON ${uses_json})
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/lmulConfig.cmake.in
    ${PROJECT_BINARY_DIR}/lmulConfig.cmake INSTALL_DESTINATION ${cmake_dir})
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/lmulConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/lmulConfig.cmake ${PROJECT_BINARY_DIR}/lmulConfigVersion.cmake
          DESTINATION ${cmake_dir})

  # pkg-config: one module with every installed library (static: dependencies after users).
  list(REMOVE_DUPLICATES defs)
  # Left out: in-tree data paths, and string values (pkg-config drops their quotes); both are
  # only read by the libraries' own .cc files, never by an installed header.
  list(FILTER defs EXCLUDE REGEX "${PROJECT_SOURCE_DIR}|\"")
  list(TRANSFORM defs PREPEND "-D")
  string(JOIN " " LMUL_PC_CFLAGS ${defs})
  string(JOIN " " LMUL_PC_LIBS ${installed})
  set(LMUL_PC_REQUIRES "libhwy")
  if(uses_json)
    string(APPEND LMUL_PC_REQUIRES ", nlohmann_json")
  endif()
  # Relocatable: the prefix is found from the .pc file's own folder (cmake --install --prefix).
  file(RELATIVE_PATH LMUL_PC_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  string(REGEX REPLACE "/$" "" LMUL_PC_PREFIX "${LMUL_PC_PREFIX}")
  configure_file(${PROJECT_SOURCE_DIR}/cmake/lmul.pc.in ${PROJECT_BINARY_DIR}/lmul.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/lmul.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()

# tandem_add_plugin_library(<target> [SOURCES <src>...] [LIBRARIES <lib>...])
#
# The plugin's logic as a static library that both its .so and its tests link:
# hidden visibility, position-independent, src/ beside the calling
# CMakeLists.txt as its public include directory, linked to TandemSDK::sdk.
# Without SOURCES: every src/*.cpp but src/export.cpp (the .so's own file).
function(tandem_add_plugin_library target)
  cmake_parse_arguments(P "" "" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT P_SOURCES)
    file(GLOB P_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
    list(FILTER P_SOURCES EXCLUDE REGEX "/export\\.cpp$")
  endif()
  add_library(${target} STATIC ${P_SOURCES})
  set_target_properties(${target} PROPERTIES
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${target} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${target} PUBLIC TandemSDK::sdk ${P_LIBRARIES})
endfunction()

# tandem_add_plugin(<target> SOURCES <src>... [LIBRARIES <lib>...])
#
# Builds a loadable tandem plugin: a MODULE library named tandem-<plugin-name>.so
# with hidden visibility (only the TANDEM_PLUGIN aliases are exported), linked
# against TandemSDK::sdk. Inside the tandem tree it lands in
# build/lib/tandem/plugins/ and installs beside tandemd's plugins.
#
# <plugin-name> is read from the TANDEM_PLUGIN(Class, "name", ...) line of one
# of the SOURCES: the manifest is the one place a plugin's identity is written.
function(tandem_add_plugin target)
  cmake_parse_arguments(P "" "" "SOURCES;LIBRARIES" ${ARGN})
  set(plugin_name "")
  foreach(source IN LISTS P_SOURCES)
    get_filename_component(path "${source}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    if(EXISTS "${path}")
      file(READ "${path}" text)
      if(text MATCHES "TANDEM_PLUGIN\\([^,]+,[ \t\r\n]*\"([^\"]+)\"")
        set(plugin_name "${CMAKE_MATCH_1}")
        set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${path}")
        break()
      endif()
    endif()
  endforeach()
  if(plugin_name STREQUAL "")
    message(FATAL_ERROR "tandem_add_plugin(${target}): none of its SOURCES has a TANDEM_PLUGIN(Class, \"name\", ...) "
                        "line; the file name tandem-<name>.so comes from it")
  endif()
  add_library(${target} MODULE ${P_SOURCES})
  # Suites that look at every built plugin (the plugin docs check) depend on this list.
  set_property(GLOBAL APPEND PROPERTY TANDEM_PLUGIN_TARGETS ${target})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "tandem-${plugin_name}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(TANDEM_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${TANDEM_PLUGIN_OUTPUT_DIR})
  endif()
  target_link_libraries(${target} PRIVATE TandemSDK::sdk ${P_LIBRARIES})
  target_link_options(${target} PRIVATE -Wl,--no-undefined)
  if(TANDEM_PLUGIN_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION ${TANDEM_PLUGIN_INSTALL_DIR})
  endif()
endfunction()

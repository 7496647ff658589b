# tandem_add_plugin(<target> NAME <plugin-name> SOURCES <src>... [LIBRARIES <lib>...])
#
# Builds a loadable tandem plugin: a MODULE library named tandem-<plugin-name>.so
# with hidden visibility (only the TANDEM_PLUGIN aliases are exported), linked
# against TandemSDK::sdk. Inside the tandem tree it lands in
# build/lib/tandem/plugins/ and installs beside tandemd's plugins.
function(tandem_add_plugin target)
  cmake_parse_arguments(P "" "NAME" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT P_NAME)
    message(FATAL_ERROR "tandem_add_plugin(${target}): NAME is required")
  endif()
  add_library(${target} MODULE ${P_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "tandem-${P_NAME}"
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

# CPACK_PRE_BUILD_SCRIPTS, on CPack's staging tree: drops the debug sections
# from the static SDK libraries (CPACK_STRIP_FILES strips executables and
# shared objects only), as Debian's dh_strip does for lib*.a: tandem-dev is
# otherwise about 70 MB of DWARF. The symbols plugins link against stay.
file(GLOB_RECURSE _archives "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*.a")
foreach(_a IN LISTS _archives)
  execute_process(COMMAND strip --strip-debug --remove-section=.comment "${_a}" RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "strip --strip-debug ${_a} failed")
  endif()
endforeach()
# The compiler's version strings (.comment) in the already stripped
# executables and plugins are not needed either (lintian's
# binary-has-unneeded-section).
file(GLOB_RECURSE _objects "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*/usr/bin/*" "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*.so")
foreach(_o IN LISTS _objects)
  execute_process(COMMAND strip --remove-section=.comment "${_o}" RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "strip --remove-section=.comment ${_o} failed")
  endif()
endforeach()

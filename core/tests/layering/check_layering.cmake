# Fails when a file of core/src/FOLDER includes a header of a core folder that
# is not below FOLDER (core/CMakeLists.txt declares the layers; a cycle between
# folders is exactly such an include). Run as:
#   cmake -DLAYERS=core_layers.txt -DSRC=core/src -P check_layering.cmake
cmake_minimum_required(VERSION 3.20)
get_filename_component(SRC "${SRC}" ABSOLUTE)
file(STRINGS ${LAYERS} _lines)
set(_folders "")
foreach(_line IN LISTS _lines)
  string(REGEX MATCH "^([a-z_]+):(.*)$" _ ${_line})
  list(APPEND _folders ${CMAKE_MATCH_1})
  string(STRIP "${CMAKE_MATCH_2}" _may)
  string(REPLACE " " ";" _may "${_may}")
  set(_may_${CMAKE_MATCH_1} ${_may})
endforeach()

# Every folder of src/ must be a declared layer: a new folder outside the
# layers would go unchecked.
file(GLOB _dirs LIST_DIRECTORIES true RELATIVE ${SRC} ${SRC}/*)
set(_problems "")
foreach(_dir IN LISTS _dirs)
  if(IS_DIRECTORY ${SRC}/${_dir} AND NOT _dir IN_LIST _folders)
    string(APPEND _problems "core/src/${_dir}/ is not a layer: add tandem_core_layer(${_dir} ...) to core/CMakeLists.txt\n")
  endif()
endforeach()

foreach(_folder IN LISTS _folders)
  file(GLOB _files ${SRC}/${_folder}/*.h ${SRC}/${_folder}/*.cpp)
  foreach(_file IN LISTS _files)
    file(STRINGS ${_file} _includes REGEX "^#include \"[a-z_]+/")
    foreach(_inc IN LISTS _includes)
      string(REGEX MATCH "^#include \"([a-z_]+)/" _ "${_inc}")
      set(_target ${CMAKE_MATCH_1})
      if(_target STREQUAL _folder OR NOT _target IN_LIST _folders)
        continue()  # its own folder, or not a core folder (tandem/sdk/...)
      endif()
      if(NOT _target IN_LIST _may_${_folder})
        file(RELATIVE_PATH _rel ${SRC} ${_file})
        string(APPEND _problems "core/src/${_rel}: ${_inc}: ${_folder}/ may include only [${_may_${_folder}}] (core/CMakeLists.txt); move the shared part down a layer\n")
      endif()
    endforeach()
  endforeach()
endforeach()

if(_problems)
  message(FATAL_ERROR "core layering broken:\n${_problems}")
endif()
list(LENGTH _folders _n)
message(STATUS "core layering: ${_n} folders, every include goes down")

# SPDX-License-Identifier: Apache-2.0
# dfrot_warnings: warning flags for dfrot's own executables only (linked PRIVATE), never pushed
# onto consumers through dfrot::dfrot.
add_library(dfrot_warnings INTERFACE)
set(_dfrot_warning_flags
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual
  -Wnull-dereference -Wdouble-promotion -Wimplicit-fallthrough)
if(DFROT_WARNINGS_AS_ERRORS)
  list(APPEND _dfrot_warning_flags -Werror)
endif()
target_compile_options(dfrot_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${_dfrot_warning_flags}>)
list(JOIN _dfrot_warning_flags "," _dfrot_cuda_host_flags)
target_compile_options(dfrot_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
if(DFROT_NATIVE)
  target_compile_options(dfrot_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
endif()
target_compile_definitions(dfrot_warnings INTERFACE
  DFROT_MAX_ISA_LEVEL=${DFROT_ISA_LEVEL_${DFROT_MAX_ISA}})

# SPDX-License-Identifier: Apache-2.0
# Installs dfrot from the build tree into a scratch prefix, then configures, builds and runs the
# consumer project against that installed package (find_package(dfrot CONFIG REQUIRED)).
file(REMOVE_RECURSE ${DFROT_SCRATCH})
set(prefix ${DFROT_SCRATCH}/prefix)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${DFROT_BINARY_DIR} --prefix ${prefix}
  RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "consumer: installing dfrot into ${prefix} failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${DFROT_CONSUMER_SOURCE} -B ${DFROT_SCRATCH}/build
  -G ${DFROT_GENERATOR} -DCMAKE_CXX_COMPILER=${DFROT_CXX} -DCMAKE_PREFIX_PATH=${prefix}
  -DCMAKE_BUILD_TYPE=Release RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "consumer: configuring against the installed package failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${DFROT_SCRATCH}/build RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "consumer: build failed (${rc})")
endif()
execute_process(COMMAND ${DFROT_SCRATCH}/build/dfrot_consumer RESULT_VARIABLE rc
  OUTPUT_VARIABLE out)
message(STATUS "consumer output: ${out}")
if(rc)
  message(FATAL_ERROR "consumer: the program failed (${rc})")
endif()

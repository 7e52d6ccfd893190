# SPDX-License-Identifier: Apache-2.0
# DFROT_CUDA=AUTO|ON|OFF. AUTO turns CUDA on when a CUDA compiler is found. The toolkit is present on
# the development machines without a GPU: CUDA code must compile and link there, and GPU tests skip.
set(DFROT_HAS_CUDA OFF)
if(DFROT_CUDA STREQUAL "ON" OR DFROT_CUDA STREQUAL "AUTO")
  include(CheckLanguage)
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 86 89 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(DFROT_HAS_CUDA ON)
  elseif(DFROT_CUDA STREQUAL "ON")
    message(FATAL_ERROR "DFROT_CUDA=ON but no CUDA compiler was found (set CMAKE_CUDA_COMPILER)")
  endif()
elseif(NOT DFROT_CUDA STREQUAL "OFF")
  message(FATAL_ERROR "DFROT_CUDA=${DFROT_CUDA}: expected AUTO, ON or OFF")
endif()
message(STATUS "dfrot: CUDA backends ${DFROT_HAS_CUDA} (DFROT_CUDA=${DFROT_CUDA})")

if(DFROT_HAS_CUDA)
  # dfrot::cuda: usage requirements of the CUDA backends (headers live in include/dfrot/*/cuda).
  add_library(dfrot_cuda INTERFACE)
  add_library(dfrot::cuda ALIAS dfrot_cuda)
  target_link_libraries(dfrot_cuda INTERFACE CUDA::cudart CUDA::cublas CUDA::cusolver)
  # CMake 3.25 does not know the language levels of nvcc 13, so pass the standard directly.
  # Host code of .cu files uses the same OpenMP parallel_for as the C++ code.
  target_compile_options(dfrot_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 -Xcompiler=-fopenmp>)
  # Eigen appears in .cu files only as host code: EIGEN_NO_CUDA keeps its device annotations off.
  target_compile_definitions(dfrot_cuda INTERFACE DFROT_HAS_CUDA=1 $<$<COMPILE_LANGUAGE:CUDA>:EIGEN_NO_CUDA>)
endif()

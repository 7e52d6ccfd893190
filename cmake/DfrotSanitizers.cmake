# SPDX-License-Identifier: Apache-2.0
# DFROT_SANITIZE=address;undefined adds -fsanitize flags to dfrot's own executables.
if(DFROT_SANITIZE)
  list(JOIN DFROT_SANITIZE "," _dfrot_san)
  target_compile_options(dfrot_warnings INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${_dfrot_san} -fno-omit-frame-pointer -fno-sanitize-recover=all>)
  target_link_options(dfrot_warnings INTERFACE -fsanitize=${_dfrot_san})
endif()

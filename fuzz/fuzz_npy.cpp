// SPDX-License-Identifier: Apache-2.0
// .npy: the magic, version, header dict (descr, fortran_order, shape) and data size; as a rotation
// matrix (R1) and as a stack of matrices (R2).
#include "dfrot/io/npy.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  auto const path = dfrot::fuzz::write_input(data, size, "r.npy");
  return dfrot::fuzz::expect_only_dfrot_errors([&] {
    (void)dfrot::io::parse_npy(std::as_bytes(std::span(data, size)), "fuzz.npy");
    try {
      (void)dfrot::io::read_npy_matrix(path);
    } catch (dfrot::Error const&) {
    }
    (void)dfrot::io::read_npy_stack(path);
  });
}

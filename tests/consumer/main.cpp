// SPDX-License-Identifier: Apache-2.0
// Consumer check: rotate a vector with the installed headers and verify the norm is kept.
#include <cmath>
#include <cstdio>
#include <vector>

#include <dfrot/dfrot.hpp>

int main() {
  std::vector<float> x(576);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
  double norm_before = 0, norm_after = 0;
  for (float v : x) norm_before += double(v) * v;
  dfrot::hadamard::HadamardTransform const t(x.size());
  t.apply(std::span<float>(x));
  for (float v : x) norm_after += double(v) * v;
  std::printf("dfrot %s: n=%zu K=%zu norm %.6f -> %.6f\n", DFROT_VERSION_STRING, x.size(),
              t.k(), norm_before, norm_after);
  return std::abs(norm_before - norm_after) < 1e-3 * norm_before ? 0 : 1;
}

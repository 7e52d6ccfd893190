// SPDX-License-Identifier: Apache-2.0
// Quantization flags shared by the verbs that build a QuantScheme (`dfrot ppl`, later quantize).
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "dfrot/pipeline/quant_scheme.hpp"

namespace dfrot::app {

/// Declares --rotate, --preset, --w-bits/--a-bits/--k-bits/--v-bits, --w-clip, --a-asym/--k-asym/
/// --v-asym, --a-clip/--k-clip/--v-clip, --a-group, --kv-per-token, --emb-mean on `sub`; the
/// returned function builds the scheme after parsing (preset first, explicit flags override).
std::function<pipeline::QuantScheme(std::uint64_t seed)> add_quant_flags(CLI::App& sub);

}  // namespace dfrot::app

// SPDX-License-Identifier: Apache-2.0
// `dfrot synth --shape llama-2-7b -o FILE`: a synthetic LLaMA-family GGUF of a real shape with
// random weights (common/synthetic_model.hpp), for the large-model benchmarks. Checks the free
// disk space first.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "common/commands.hpp"
#include "common/report.hpp"
#include "common/stopwatch.hpp"
#include "common/synthetic_model.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/model/model_config.hpp"

namespace dfrot::app {

namespace {
struct SynthOptions {
  std::string shape = "tiny";
  std::string output;
  std::string type = "f16";
  std::size_t layers = 0;
  bool dry_run = false;
};

io::GgmlType parse_type(std::string const& t) {
  if (t == "f32") return io::GgmlType::kF32;
  if (t == "bf16") return io::GgmlType::kBF16;
  if (t == "q8_0") return io::GgmlType::kQ8_0;
  if (t == "q4_0") return io::GgmlType::kQ4_0;
  return io::GgmlType::kF16;
}
}  // namespace

CommandAction add_synth_command(CLI::App& sub, CommonOptions& common) {
  auto o = std::make_shared<SynthOptions>();
  std::string shapes;
  for (SyntheticShape const& s : synthetic_shapes()) shapes += (shapes.empty() ? "" : ", ") + s.name;
  sub.add_option("--shape", o->shape, "model shape: " + shapes)->capture_default_str();
  sub.add_option("-o,--output", o->output, "output GGUF file");
  sub.add_option("--type", o->type, "storage of the weight matrices")
      ->check(CLI::IsMember({"f16", "bf16", "f32", "q8_0", "q4_0"}))
      ->capture_default_str();
  sub.add_option("--layers", o->layers, "decoder layers (0: the shape's)");
  sub.add_flag("--dry-run", o->dry_run, "print the shape and the bytes it needs, write nothing");
  return [o, &common]() {
    io::LlamaHParams hp = synthetic_shape(o->shape).hp;
    if (o->layers != 0) hp.n_layers = o->layers;
    model::validate(hp);
    io::GgmlType const type = parse_type(o->type);
    std::uintmax_t const need = synthetic_tensor_bytes(hp, type) + (std::uintmax_t{8} << 20);  // + header
    std::fprintf(stderr, "synthetic %s (%s), %s weights: %.2f GB\n", o->shape.c_str(),
                 model::describe(hp).c_str(), o->type.c_str(), double(need) / 1e9);
    Report report({"shape", "type", "output", "bytes", "seconds"});
    report.set("seed", common.seed);
    // What a script needs to size the quantized file: the dense part stays F16 there.
    report.set("hidden", hp.hidden);
    report.set("vocab", hp.vocab);
    report.set("tied", hp.tied_embeddings);
    if (o->dry_run) {
      report.add_row({o->shape, o->type, nullptr, need, 0.0});
      report.print(common.json);
      return 0;
    }
    DFROT_THROW_IF(o->output.empty(), UsageError, "--output is required (or --dry-run)");
    std::filesystem::path const out = std::filesystem::absolute(o->output);
    std::error_code ec;
    std::filesystem::space_info const space = std::filesystem::space(out.parent_path(), ec);
    DFROT_THROW_IF(!ec && space.available < need, IoError, "synth: '", out.string(), "' needs ",
                   double(need) / 1e9, " GB, ", double(space.available) / 1e9, " GB free there");
    auto const t0 = std::chrono::steady_clock::now();
    write_synthetic_model(out, hp, type, common.seed, common.n_threads, [&](std::size_t done, std::size_t total) {
      std::fprintf(stderr, "\rsynth: tensor %zu/%zu  %5.0f s", done, total, seconds_since(t0));
      std::fflush(stderr);
    });
    std::fprintf(stderr, "\n");
    report.add_row({o->shape, o->type, out.string(), std::filesystem::file_size(out), seconds_since(t0)});
    report.print(common.json);
    return 0;
  };
}

}  // namespace dfrot::app

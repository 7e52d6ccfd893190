// SPDX-License-Identifier: Apache-2.0
// Regression tests for the hostile-input classes of the hardening issue that live in io/: deep
// JSON, files that are not regular files, allocations sized by unvalidated input, and outputs
// interrupted half-way.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "dfrot/io/atomic_file.hpp"
#include "dfrot/io/file_read.hpp"
#include "dfrot/io/gguf.hpp"
#include "dfrot/io/gguf_writer.hpp"
#include "dfrot/io/hf_tokenizer.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/io/mapped_file.hpp"
#include "io/io_test_util.hpp"

using namespace dfrot;

namespace {

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + "1" + std::string(depth, ']');
}

}  // namespace

TEST_SUITE("io") {
  TEST_CASE("hostile input: JSON nested 100000 deep is an error, not a stack overflow") {
    CHECK(io::parse_json(nested_arrays(10), "x").is_array());
    CHECK_THROWS_WITH_AS(io::parse_json(nested_arrays(100000), "config"),
                         doctest::Contains("nested deeper"), FormatError);
    CHECK_THROWS_AS(io::parse_json("{\"a\": ", "x"), FormatError);
    // A config.json whose bos_token_id is an array nested 10^5 deep.
    test::TempDir dir("deep_json");
    test::write_text(dir / "config.json", "{\"bos_token_id\": " + nested_arrays(100000) + "}");
    CHECK_THROWS_AS((void)io::load_llama_checkpoint(dir / "config.json"), FormatError);
  }

  TEST_CASE("hostile input: FIFOs and devices are refused without blocking; text size is capped") {
    test::TempDir dir("fifo");
    auto const fifo = dir / "pipe";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    // Each of these blocked forever in open() before.
    CHECK_THROWS_WITH_AS(io::read_file(fifo, "text"), doctest::Contains("not a regular file"), IoError);
    CHECK_THROWS_AS(io::MappedFile{fifo}, IoError);
    CHECK_THROWS_AS((void)io::load_llama_checkpoint(fifo), IoError);
    CHECK_FALSE(io::starts_with_magic(fifo, "GGUF"));
    // /dev/zero never ends: refused as not a regular file instead of read until memory runs out.
    CHECK_THROWS_AS(io::read_file("/dev/zero", "text"), IoError);
    test::write_text(dir / "t.txt", std::string(100, 'x'));
    CHECK(io::read_file(dir / "t.txt", "text").size() == 100);
    CHECK_THROWS_WITH_AS(io::read_file(dir / "t.txt", "text", 99), doctest::Contains("limit"), IoError);
  }

  TEST_CASE("hostile input: a GGUF tensor of an unknown type and 2^40 elements is refused before allocating") {
    test::TempDir dir("gguf_type");
    test::GgufWriter g;  // the test-side writer: dfrot's own refuses unknown types
    g.add_string("general.architecture", "llama");
    g.add_tensor("huge", {std::uint64_t{1} << 20, std::uint64_t{1} << 20}, 77, {});
    test::write_bytes(dir / "t.gguf", g.build());
    io::GgufFile const f(dir / "t.gguf");
    // Allocated 2^40 floats (4 TiB) before rejecting the type.
    CHECK_THROWS_WITH_AS((void)f.read_f32(f.tensor("huge")), doctest::Contains("huge"), FormatError);
  }

  TEST_CASE("hostile input: a tokenizer.json with one token id 16777215 is refused before building 16.7M placeholders") {
    nlohmann::json tok = nlohmann::json::parse(R"({"model": {"type": "BPE", "merges": [],
        "vocab": {"a": 0, "b": 16777215}}, "pre_tokenizer": {"type": "ByteLevel"}})");
    CHECK_THROWS_WITH_AS((void)io::tokenizer_from_hf_json(tok, "tokenizer.json", nlohmann::json(), {}),
                         doctest::Contains("sparse"), FormatError);
    // Dense vocabularies with a few reserved holes are fine.
    tok["model"]["vocab"] = nlohmann::json::parse(R"({"a": 0, "b": 1, "c": 5})");
    CHECK_NOTHROW((void)io::tokenizer_from_hf_json(tok, "tokenizer.json", nlohmann::json(), {}));
  }

  TEST_CASE("hostile input: JSON fields of the wrong type are FormatErrors (found by fuzz_hf_json)") {
    // `.value("add_prefix_space", false)` on an array threw nlohmann::type_error past every handler.
    nlohmann::json const tok = nlohmann::json::parse(R"({"model": {"type": "BPE", "merges": [],
        "vocab": {"a": 0}}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": [1]}})");
    CHECK_THROWS_WITH_AS((void)io::tokenizer_from_hf_json(tok, "tokenizer.json"),
                         doctest::Contains("tokenizer.json"), FormatError);
    nlohmann::json const cfg = nlohmann::json::parse(R"({"hidden_size": 64, "model_type": [1]})");
    CHECK_THROWS_AS((void)io::hparams_from_hf_config(cfg, "config.json"), FormatError);
  }

  TEST_CASE("hostile input: an output killed half-way leaves no file a later run would load") {
    test::TempDir dir("atomic");
    auto const target = dir / "model.gguf";
    pid_t const pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // child: start writing, then die without finishing
      io::AtomicOutputFile out(target, "gguf");
      out.stream() << std::string(1 << 16, 'x');
      out.stream().flush();
      ::raise(SIGKILL);
      ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    CHECK_FALSE(std::filesystem::exists(target));
    {  // an exception before commit(): neither the target nor the temporary file remains
      test::write_text(target, "old");
      try {
        io::AtomicOutputFile out(target, "gguf");
        out.stream() << "partial";
        throw IoError("simulated failure");
      } catch (IoError const&) {
      }
      CHECK(io::read_file(target, "t") == "old");
    }
    io::GgufWriter g;
    g.set("general.architecture", io::gguf_string("llama"));
    g.write(target);
    CHECK(io::starts_with_magic(target, "GGUF"));
    // Only the killed child's own temporary (never loaded: another name) remains beside the target.
    std::size_t files = 0;
    for (auto const& e : std::filesystem::directory_iterator(dir.path())) {
      std::string const name = e.path().filename().string();
      if (name != "model.gguf") CHECK(name == "model.gguf.tmp." + std::to_string(pid));
      ++files;
    }
    CHECK(files == 2);
  }
}

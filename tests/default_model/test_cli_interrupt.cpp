// SPDX-License-Identifier: Apache-2.0
// The dfrot tool killed in the middle of `quantize`: no file at -o that a later run would load,
// and `--resume` finishes the streamed run from what was written (ctest label "model").
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "default_model/default_model.hpp"

namespace fs = std::filesystem;

namespace {

/// Starts `args` (args[0] = the program) with stdout and stderr discarded; returns its pid.
pid_t spawn(std::vector<std::string> const& args) {
  pid_t const pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto const& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    FILE* devnull = std::fopen("/dev/null", "w");
    if (devnull != nullptr) {
      ::dup2(::fileno(devnull), 1);
      ::dup2(::fileno(devnull), 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_SUITE("default_model") {
  TEST_CASE("dfrot quantize killed mid-run leaves no output; --resume completes the streamed run") {
    std::string const cli = DFROT_CLI_PATH;
    if (!dfrot::test::default_model_available()) return;
    if (cli.empty()) {
      MESSAGE("skipped: the dfrot tool is not built (DFROT_BUILD_CLI=OFF)");
      return;
    }
    char tmpl[] = "/tmp/dfrot_cli_kill_XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    fs::path const dir = tmpl;
    fs::path const out = dir / "smol.w4a4kv4.gguf";
    fs::path const partial = out.string() + ".partial";
    std::vector<std::string> const args = {cli, "quantize", "-m", dfrot::test::default_model_path().string(), "-o",
                                           out.string(), "--preset", "quarot-paper", "--rotate",
                                           "hadamard", "--rtn", "--pipeline", "streamed", "-t", "1"};
    pid_t const pid = spawn(args);
    REQUIRE(pid > 0);
    // The streamed writer creates <out>.partial with the header and appends layer by layer; the
    // rename to <out> is the last step, so killing once the partial file has grown is mid-run.
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    std::error_code ec;
    while (std::chrono::steady_clock::now() < deadline &&
           !(fs::exists(partial) && fs::file_size(partial, ec) > (8u << 20))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    bool const caught = fs::exists(partial) && !fs::exists(out);
    ::kill(pid, SIGKILL);
    CHECK(wait_exit(pid) == 128 + SIGKILL);
    REQUIRE(caught);
    CHECK_FALSE(fs::exists(out));
    // A later run that would load -o finds nothing and says so (no half-written model).
    fs::path const text = dir / "text.txt";
    {
      FILE* f = std::fopen(text.c_str(), "w");
      REQUIRE(f != nullptr);
      std::fputs("The quick brown fox jumps over the lazy dog. It was a sunny day.\n", f);
      std::fclose(f);
    }
    CHECK(wait_exit(spawn({cli, "ppl", "-m", out.string(), "-f", text.string(), "-c", "8"})) == 1);
    // --resume keeps the complete layers of the partial file and finishes the job.
    std::vector<std::string> resume = args;
    resume.push_back("--resume");
    CHECK(wait_exit(spawn(resume)) == 0);
    CHECK(fs::exists(out));
    CHECK_FALSE(fs::exists(partial));
    CHECK(fs::file_size(out) > (50u << 20));
    fs::remove_all(dir, ec);
  }
}

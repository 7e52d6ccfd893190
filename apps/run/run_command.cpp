// SPDX-License-Identifier: Apache-2.0
// `dfrot run -m MODEL -p PROMPT [-n 128] [--temp 0.8] [--top-k 40] [--top-p 0.95] [-s SEED]
// [--chat] [-c 2048]`: text generation like llama-cli. The generated text streams to stdout as it
// is sampled; the prompt size and prefill / decode speeds go to stderr at the end.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/commands.hpp"
#include "common/generation.hpp"
#include "common/inference_model.hpp"

namespace dfrot::app {

namespace {
struct RunOptions {
  std::string model;
  std::string prompt;
  std::string tokenizer;
  std::string system = kSmolLmSystemPrompt;
  std::size_t n_predict = 128;
  std::size_t ctx = 2048;
  float temp = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  bool chat = false;
  bool fake = false;
};

double per_second(std::size_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}
}  // namespace

CommandAction add_run_command(CLI::App& sub, CommonOptions& common) {
  auto o = std::make_shared<RunOptions>();
  sub.add_option("-m,--model", o->model,
                 "model: GGUF file, llama2.c .bin, HF directory, or a dfrot quantize output")
      ->required();
  sub.add_option("-p,--prompt", o->prompt, "prompt text")->required();
  sub.add_option("--tokenizer", o->tokenizer,
                 "tokenizer file when the model has none (llama2.c tokenizer.bin)");
  sub.add_option("-n,--n-predict", o->n_predict, "tokens to generate at most")
      ->capture_default_str();
  sub.add_option("-c,--ctx-size", o->ctx, "context size (prompt + generated tokens)")
      ->check(CLI::Range(std::size_t{2}, model::kMaxPositions))
      ->capture_default_str();
  sub.add_option("--temp", o->temp, "temperature (0 = greedy)")->capture_default_str();
  sub.add_option("--top-k", o->top_k, "keep the K most likely tokens (0 = off)")
      ->capture_default_str();
  sub.add_option("--top-p", o->top_p, "nucleus: smallest set with probability >= P (1 = off)")
      ->capture_default_str();
  sub.add_flag("--chat", o->chat, "wrap the prompt in the model's chat template (ChatML)");
  sub.add_flag("--fake", o->fake, "quantized models: run the fake-quant oracle instead of the int4 engine");
  sub.add_option("--system", o->system, "system message of --chat (empty: none)")
      ->capture_default_str();
  return [o, &common]() {
    DFROT_THROW_IF(o->ctx < 2, UsageError, "-c ", o->ctx, ": the context must hold at least 2 tokens");
    DFROT_THROW_IF(o->top_p <= 0.0f, UsageError, "--top-p ", o->top_p, ": must be > 0");
    auto const t0 = std::chrono::steady_clock::now();
    InferenceModel m = load_inference_model(o->model, o->tokenizer, o->ctx, common.n_threads, o->fake);
    double const load_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    tokenizer::Tokenizer const& tok = *m.loaded.tokenizer;
    std::fprintf(stderr, "model: %s (%s), engine %s, loaded in %.1f s\n", o->model.c_str(),
                 model::describe(m.loaded.model->config()).c_str(), m.engine.c_str(), load_s);
    std::vector<int> prompt;
    if (o->chat) {
      detect_chat_format(read_chat_template(o->model), tok);  // ChatML or a UsageError
      prompt = build_chatml_prompt(tok, o->system, o->prompt);
    } else {
      prompt = tok.encode(o->prompt, tok.add_bos());
    }
    DFROT_THROW_IF(prompt.empty(), UsageError, "-p: the prompt encodes to no tokens");
    DFROT_THROW_IF(prompt.size() >= o->ctx, UsageError, "-p: the prompt has ", prompt.size(),
                   " tokens, the context (-c) ", o->ctx);
    Sampler sampler({.temp = o->temp, .top_k = o->top_k, .top_p = o->top_p, .seed = common.seed});
    std::fprintf(stderr, "sampling: temp %g, top-k %d, top-p %g, seed %llu%s\n\n",
                 static_cast<double>(o->temp), o->top_k, static_cast<double>(o->top_p),
                 static_cast<unsigned long long>(common.seed), o->chat ? ", ChatML" : "");
    GenerationOptions const gopt{.max_new_tokens = o->n_predict,
                                 .stop_ids = stop_token_ids(tok),
                                 .n_threads = common.n_threads};
    Utf8Streamer stream;
    auto const emit = [](std::string const& s) {
      if (s.empty()) return;
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
    };
    GenerationResult const r = generate(*m.loaded.model, m.hooks.get(), prompt, sampler, gopt,
                                        [&](int id) { emit(stream.push(tok.token_text(id))); });
    // A character cut off by the token limit is incomplete for good: drop it, never print half.
    std::size_t const cut = stream.pending();
    (void)stream.finish();
    emit("\n");
    if (cut) std::fprintf(stderr, "(dropped %zu bytes of an unfinished UTF-8 character)\n", cut);
    std::fprintf(stderr,
                 "\nprompt: %zu tokens, prefill %.1f tok/s (%.3f s)\n"
                 "generated: %zu tokens, decode %.1f tok/s (%zu steps, %.3f s), stopped: %s\n",
                 r.prompt_tokens, per_second(r.prompt_tokens, r.prefill_seconds),
                 r.prefill_seconds, r.tokens.size(), per_second(r.decode_steps, r.decode_seconds),
                 r.decode_steps, r.decode_seconds, to_string(r.stop));
    return 0;
  };
}

}  // namespace dfrot::app

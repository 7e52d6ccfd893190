// SPDX-License-Identifier: Apache-2.0
// Text generation pieces of `dfrot run` / `dfrot bench`: the sampler (temperature → top-k →
// top-p), the ChatML prompt builder, the UTF-8-safe streaming detokenizer and the
// prefill-then-decode loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dfrot/model/llama_model.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"

namespace dfrot::app {

// ------------------------------------------------------------------------------------------------
// Sampling
// ------------------------------------------------------------------------------------------------

struct SamplerOptions {
  float temp = 0.8f;     ///< <= 0: greedy (argmax, ties to the lowest id)
  int top_k = 40;        ///< <= 0 or >= vocab: off
  float top_p = 0.95f;   ///< >= 1: off; keeps the smallest set with cumulative prob >= top_p
  std::uint64_t seed = 0;
};

/// One token the sampler may draw and its probability.
struct Candidate {
  int id;
  double p;
};

/// The distribution sample() draws from: softmax(logits / temp) restricted to the top_k most
/// likely tokens, then to the nucleus of mass top_p (at least one token), renormalized; sorted
/// by descending probability (ties: lower id first). Greedy (temp <= 0) gives the argmax alone.
/// \throws UsageError for empty logits.
std::vector<Candidate> sampling_distribution(std::span<float const> logits,
                                             SamplerOptions const& o);

/// Index of the largest logit; ties go to the lowest id. \throws UsageError for empty logits.
int argmax(std::span<float const> logits);

/// Draws token ids from logits; the same seed gives the same sequence for the same logits.
class Sampler {
 public:
  explicit Sampler(SamplerOptions const& o) : o_(o), rng_(o.seed) {}
  int sample(std::span<float const> logits);
  SamplerOptions const& options() const noexcept { return o_; }

 private:
  SamplerOptions o_;
  std::mt19937_64 rng_;
};

// ------------------------------------------------------------------------------------------------
// Prompts
// ------------------------------------------------------------------------------------------------

/// The id whose vocabulary piece is exactly `piece` (first match), if any.
std::optional<int> find_token_id(tokenizer::Tokenizer const& t, std::string_view piece);

/// SmolLM2-Instruct's default system message (its chat template inserts it when none is given).
inline constexpr char const* kSmolLmSystemPrompt =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// Chat formats `dfrot run --chat` can build.
enum class ChatFormat { kChatMl };

/// Picks the chat format from the model's `tokenizer.chat_template` (may be empty) and vocabulary.
/// ChatML when the template mentions "im_start" or, without a template, when the vocabulary has
/// the ChatML tokens. \throws UsageError when the template is of another kind or the vocabulary
/// lacks <|im_start|> / <|im_end|>.
ChatFormat detect_chat_format(std::string const& chat_template, tokenizer::Tokenizer const& t);

/// ChatML token ids, one turn each for `system` (skipped when empty) and `user`, then the opened
/// assistant turn:
///   [BOS when the model adds one] <|im_start|> "system\n{system}" <|im_end|> "\n"
///   <|im_start|> "user\n{user}" <|im_end|> "\n" <|im_start|> "assistant\n"
/// The special tokens are looked up in the vocabulary; the text between them is encoded without
/// BOS. \throws UsageError when the vocabulary lacks <|im_start|> / <|im_end|>.
std::vector<int> build_chatml_prompt(tokenizer::Tokenizer const& t, std::string_view system,
                                     std::string_view user);

/// Ids that end generation: EOS and, when present in the vocabulary, the end-of-turn tokens
/// <|im_end|>, <|eot_id|>, <|end|>, <|endoftext|>. Sorted, unique.
std::vector<int> stop_token_ids(tokenizer::Tokenizer const& t);

// ------------------------------------------------------------------------------------------------
// Streaming
// ------------------------------------------------------------------------------------------------

/// Turns token byte strings into printable text: push() returns every byte up to the last
/// complete UTF-8 character and holds back a trailing sequence that is still incomplete (a
/// multi-byte character split across tokens); bytes that can never become valid are passed on.
class Utf8Streamer {
 public:
  std::string push(std::string_view bytes);
  /// Whatever is still held back (an incomplete sequence at the end of the output).
  std::string finish();
  std::size_t pending() const noexcept { return held_.size(); }

 private:
  std::string held_;
};

/// Bytes of the longest prefix of `s` that does not end inside an incomplete UTF-8 sequence.
std::size_t utf8_complete_prefix(std::string_view s);

// ------------------------------------------------------------------------------------------------
// The generation loop
// ------------------------------------------------------------------------------------------------

struct GenerationOptions {
  std::size_t max_new_tokens = 128;
  std::vector<int> stop_ids;  ///< sampled id in this set ends generation (not emitted)
  int n_threads = 0;
};

enum class StopReason { kStopToken, kMaxTokens, kContextFull };
char const* to_string(StopReason r);

struct GenerationResult {
  std::vector<int> tokens;      ///< generated ids (without the stop token)
  StopReason stop = StopReason::kMaxTokens;
  std::size_t prompt_tokens = 0;
  double prefill_seconds = 0;   ///< forward of the prompt
  std::size_t decode_steps = 0; ///< single-token forwards after the prefill
  double decode_seconds = 0;   ///< those forwards alone (sampling excluded)
};

/// Prefills `prompt` into a fresh cache, then samples one token at a time (each fed back through a
/// single-token forward) until a stop id, `max_new_tokens`, or a full context (max_positions()).
/// `on_token` is called with every generated id as soon as it is sampled.
/// \throws UsageError for an empty prompt or one that does not fit the context.
GenerationResult generate(model::LlamaModel const& m, model::ForwardHooks* hooks,
                          std::span<int const> prompt, Sampler& sampler,
                          GenerationOptions const& o,
                          std::function<void(int)> const& on_token = {});

}  // namespace dfrot::app

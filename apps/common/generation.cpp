// SPDX-License-Identifier: Apache-2.0
#include "common/generation.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "common/stopwatch.hpp"
#include "dfrot/core/error.hpp"

namespace dfrot::app {

namespace {

void check_logits(std::span<float const> logits) {
  DFROT_THROW_IF(logits.empty(), UsageError, "sampler: empty logits");
  for (float v : logits) DFROT_THROW_IF(std::isnan(v), NumericError, "sampler: NaN logit");
}

}  // namespace

int argmax(std::span<float const> logits) {
  check_logits(logits);
  // max_element keeps the first of equal maxima: ties go to the lowest id.
  return static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::vector<Candidate> sampling_distribution(std::span<float const> logits,
                                             SamplerOptions const& o) {
  check_logits(logits);
  if (o.temp <= 0) return {{argmax(logits), 1.0}};
  std::size_t const n = logits.size();
  std::vector<int> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  auto const before = [&](int a, int b) {
    float const la = logits[static_cast<std::size_t>(a)], lb = logits[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  std::size_t const k =
      o.top_k > 0 && static_cast<std::size_t>(o.top_k) < n ? static_cast<std::size_t>(o.top_k) : n;
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), before);
  ids.resize(k);
  double const inv_t = 1.0 / static_cast<double>(o.temp);
  double const top = static_cast<double>(logits[static_cast<std::size_t>(ids[0])]) * inv_t;
  if (!std::isfinite(top)) return {{ids[0], 1.0}};  // all -inf, or an overflow: the argmax
  std::vector<Candidate> c;
  c.reserve(k);
  double sum = 0;
  for (int id : ids) {
    double const p =
        std::exp(static_cast<double>(logits[static_cast<std::size_t>(id)]) * inv_t - top);
    c.push_back({id, p});
    sum += p;
  }
  for (Candidate& x : c) x.p /= sum;
  if (o.top_p < 1.0f) {
    double const target = static_cast<double>(o.top_p);
    double cum = 0;
    std::size_t keep = 0;
    while (keep < c.size()) {
      cum += c[keep++].p;
      if (cum >= target) break;
    }
    c.resize(std::max<std::size_t>(keep, 1));
    double kept = 0;
    for (Candidate const& x : c) kept += x.p;
    for (Candidate& x : c) x.p /= kept;
  }
  return c;
}

int Sampler::sample(std::span<float const> logits) {
  if (o_.temp <= 0) return argmax(logits);
  std::vector<Candidate> const c = sampling_distribution(logits, o_);
  if (c.size() == 1) return c.front().id;
  // 53 random bits -> u in [0, 1), the same on every standard library.
  double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  for (Candidate const& x : c) {
    u -= x.p;
    if (u < 0) return x.id;
  }
  return c.back().id;  // rounding left u just above the total
}

std::optional<int> find_token_id(tokenizer::Tokenizer const& t, std::string_view piece) {
  for (std::size_t i = 0; i < t.n_vocab(); ++i) {
    if (t.token_piece(static_cast<int>(i)) == piece) return static_cast<int>(i);
  }
  return std::nullopt;
}

ChatFormat detect_chat_format(std::string const& chat_template, tokenizer::Tokenizer const& t) {
  DFROT_THROW_IF(!chat_template.empty() && chat_template.find("im_start") == std::string::npos,
                 UsageError,
                 "--chat: the model's chat template (tokenizer.chat_template) is not ChatML; only "
                 "ChatML (<|im_start|> ... <|im_end|>) is supported");
  DFROT_THROW_IF(!find_token_id(t, "<|im_start|>") || !find_token_id(t, "<|im_end|>"), UsageError,
                 "--chat: the vocabulary has no <|im_start|> / <|im_end|> tokens, so the model has "
                 "no ChatML chat format (use a plain prompt without --chat)");
  return ChatFormat::kChatMl;
}

std::vector<int> build_chatml_prompt(tokenizer::Tokenizer const& t, std::string_view system,
                                     std::string_view user) {
  std::optional<int> const start = find_token_id(t, "<|im_start|>");
  std::optional<int> const end = find_token_id(t, "<|im_end|>");
  DFROT_THROW_IF(!start || !end, UsageError,
                 "ChatML prompt: the vocabulary has no <|im_start|> / <|im_end|> tokens");
  std::vector<int> ids;
  if (t.add_bos() && t.bos_id() >= 0 && t.bos_id() != *start) ids.push_back(t.bos_id());
  auto const text = [&](std::string_view a, std::string_view b = {}) {
    std::string s(a);
    s += b;
    std::vector<int> const e = t.encode(s, /*add_bos=*/false);
    ids.insert(ids.end(), e.begin(), e.end());
  };
  if (!system.empty()) {
    ids.push_back(*start);
    text("system\n", system);
    ids.push_back(*end);
    text("\n");
  }
  ids.push_back(*start);
  text("user\n", user);
  ids.push_back(*end);
  text("\n");
  ids.push_back(*start);
  text("assistant\n");
  return ids;
}

std::vector<int> stop_token_ids(tokenizer::Tokenizer const& t) {
  std::vector<int> ids;
  if (t.eos_id() >= 0) ids.push_back(t.eos_id());
  for (char const* piece : {"<|im_end|>", "<|eot_id|>", "<|end|>", "<|endoftext|>"}) {
    if (std::optional<int> const id = find_token_id(t, piece)) ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::size_t utf8_complete_prefix(std::string_view s) {
  std::size_t const n = s.size();
  std::size_t i = n, cont = 0;
  auto const byte = [&](std::size_t j) { return static_cast<unsigned char>(s[j]); };
  while (i > 0 && cont < 3 && (byte(i - 1) & 0xC0u) == 0x80u) {
    --i;
    ++cont;
  }
  if (i == 0) return n;  // continuation bytes only: never valid, pass them on
  unsigned char const lead = byte(i - 1);
  std::size_t const need = lead >= 0xF0u && lead <= 0xF4u   ? 4
                           : lead >= 0xE0u && lead <= 0xEFu ? 3
                           : lead >= 0xC2u && lead <= 0xDFu ? 2
                                                            : 1;
  return cont + 1 < need ? i - 1 : n;
}

std::string Utf8Streamer::push(std::string_view bytes) {
  held_ += bytes;
  std::size_t const k = utf8_complete_prefix(held_);
  std::string out = held_.substr(0, k);
  held_.erase(0, k);
  return out;
}

std::string Utf8Streamer::finish() {
  std::string out;
  out.swap(held_);
  return out;
}

char const* to_string(StopReason r) {
  switch (r) {
    case StopReason::kStopToken: return "end of text";
    case StopReason::kMaxTokens: return "token limit";
    case StopReason::kContextFull: return "context full";
  }
  return "?";
}

GenerationResult generate(model::LlamaModel const& m, model::ForwardHooks* hooks,
                          std::span<int const> prompt, Sampler& sampler,
                          GenerationOptions const& o, std::function<void(int)> const& on_token) {
  DFROT_THROW_IF(prompt.empty(), UsageError, "generate: empty prompt");
  DFROT_THROW_IF(prompt.size() >= m.max_positions(), UsageError, "generate: the prompt has ",
                 prompt.size(), " tokens, the context holds ", m.max_positions(),
                 " (raise -c)");
  GenerationResult r;
  r.prompt_tokens = prompt.size();
  model::ForwardWorkspace workspace;  // the decode steps reuse every forward buffer
  model::ForwardOptions const fopt{.n_threads = o.n_threads};
  model::KvCache cache = m.make_cache();
  auto t0 = std::chrono::steady_clock::now();
  std::span<float const> row = m.forward_last_into(prompt, cache, hooks, fopt, workspace);
  r.prefill_seconds = seconds_since(t0);
  while (o.max_new_tokens > 0) {
    int const tok = sampler.sample(row);
    if (std::find(o.stop_ids.begin(), o.stop_ids.end(), tok) != o.stop_ids.end()) {
      r.stop = StopReason::kStopToken;
      break;
    }
    r.tokens.push_back(tok);
    if (on_token) on_token(tok);
    if (r.tokens.size() >= o.max_new_tokens) {
      r.stop = StopReason::kMaxTokens;
      break;
    }
    if (cache.size() >= m.max_positions()) {
      r.stop = StopReason::kContextFull;
      break;
    }
    t0 = std::chrono::steady_clock::now();
    row = m.forward_last_into(std::span<int const>(&tok, 1), cache, hooks, fopt, workspace);
    r.decode_seconds += seconds_since(t0);
    ++r.decode_steps;
  }
  return r;
}

}  // namespace dfrot::app

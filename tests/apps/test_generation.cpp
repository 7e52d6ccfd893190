// SPDX-License-Identifier: Apache-2.0
// Text generation of `dfrot run`: sampler (greedy, top-k, top-p, temperature, seeds), ChatML
// prompt ids on a handmade vocabulary, the UTF-8-safe streamer, and greedy generation on the
// stories260K model against fresh full forwards.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/generation.hpp"
#include "common/inference_model.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/tokenizer/byte_bpe.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"
#include "dfrot/tokenizer/unicode.hpp"
#include "support/test_util.hpp"
#include "tokenizer/byte_vocab.hpp"

using namespace dfrot;
using dfrot::io::TokenizerData;
using dfrot::tokenizer::Tokenizer;

namespace {

// Byte-level vocabulary: "<|endoftext|>" (0, EOS), byte b at id b + 1, "sy" (257), then the
// ChatML control tokens "<|im_start|>" (258) and "<|im_end|>" (259) when `chatml`.
TokenizerData chat_vocab(bool chatml) {
  TokenizerData d = test::byte_vocab({"sy"}, {"s y"}, "smollm");
  if (chatml) {
    for (char const* p : {"<|im_start|>", "<|im_end|>"}) {
      d.tokens.push_back(p);
      d.token_types.push_back(io::kTokenControl);
    }
  }
  d.bos_id = -1;
  return d;
}

int byte_id(char c) { return static_cast<unsigned char>(c) + 1; }

std::vector<int> byte_ids(std::string_view s) {
  std::vector<int> out;
  for (char c : s) out.push_back(byte_id(c));
  return out;
}

std::vector<int> concat(std::vector<std::vector<int>> const& parts) {
  std::vector<int> out;
  for (auto const& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Well-formed UTF-8 (no truncated or overlong sequences, no lone continuation bytes).
bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto const b = static_cast<unsigned char>(s[i]);
    std::size_t const n = b < 0x80 ? 1 : b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3
                                     : b >= 0xF0 && b <= 0xF4   ? 4
                                                                : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t j = 1; j < n; ++j) {
      if ((static_cast<unsigned char>(s[i + j]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

std::vector<float> random_logits(std::mt19937_64& rng, std::size_t n) {
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace

TEST_SUITE("apps") {
  TEST_CASE("Sampler: greedy takes the argmax, ties to the lowest id") {
    std::vector<float> const logits{0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
    CHECK(app::argmax(logits) == 1);
    app::Sampler greedy({.temp = 0.0f, .top_k = 40, .top_p = 0.95f, .seed = 1});
    for (int i = 0; i < 5; ++i) CHECK(greedy.sample(logits) == 1);
    auto const d = app::sampling_distribution(logits, greedy.options());
    REQUIRE(d.size() == 1);
    CHECK(d[0].id == 1);
    CHECK(d[0].p == 1.0);
    CHECK_THROWS_AS(app::argmax(std::vector<float>{}), UsageError);
    CHECK_THROWS_AS(greedy.sample(std::vector<float>{1.0f, std::nanf("")}), NumericError);
  }

  TEST_CASE("Sampler: top-k = 1 is greedy at any temperature and seed") {
    std::mt19937_64 rng(test::seed());
    for (int iter = 0; iter < 50; ++iter) {
      std::vector<float> const logits = random_logits(rng, 100);
      app::Sampler s({.temp = 1.5f, .top_k = 1, .top_p = 1.0f, .seed = rng()});
      for (int draw = 0; draw < 5; ++draw) CHECK(s.sample(logits) == app::argmax(logits));
    }
  }

  TEST_CASE("Sampler: top-k keeps the k most likely tokens") {
    std::vector<float> const logits{0.0f, 3.0f, 1.0f, 2.0f, -4.0f};
    auto const d = app::sampling_distribution(logits, {.temp = 1.0f, .top_k = 3, .top_p = 1.0f});
    REQUIRE(d.size() == 3);
    CHECK(d[0].id == 1);
    CHECK(d[1].id == 3);
    CHECK(d[2].id == 2);
    double const z = std::exp(3.0) + std::exp(2.0) + std::exp(1.0);
    CHECK(d[0].p == doctest::Approx(std::exp(3.0) / z));
    CHECK(d[2].p == doctest::Approx(std::exp(1.0) / z));
  }

  TEST_CASE("Sampler: top-p samples only from the nucleus, in its proportions") {
    // p = 0.30, 0.05, 0.50, 0.15 at ids 0..3: sorted 2 (0.5), 0 (0.3), 3 (0.15), 1 (0.05).
    std::vector<float> const logits{std::log(0.30f), std::log(0.05f), std::log(0.50f),
                                    std::log(0.15f)};
    app::SamplerOptions const o{.temp = 1.0f, .top_k = 0, .top_p = 0.75f, .seed = test::seed()};
    auto const d = app::sampling_distribution(logits, o);
    REQUIRE(d.size() == 2);  // 0.5 < 0.75 <= 0.8
    CHECK(d[0].id == 2);
    CHECK(d[1].id == 0);
    CHECK(d[0].p == doctest::Approx(0.625));
    CHECK(d[1].p == doctest::Approx(0.375));
    app::Sampler s(o);
    int counts[4] = {};
    int const draws = 20000;
    for (int i = 0; i < draws; ++i) ++counts[s.sample(logits)];
    CHECK(counts[1] == 0);
    CHECK(counts[3] == 0);
    CHECK(static_cast<double>(counts[2]) / draws == doctest::Approx(0.625).epsilon(0.03));
    CHECK(static_cast<double>(counts[0]) / draws == doctest::Approx(0.375).epsilon(0.05));
    // A nucleus smaller than the top token still keeps it.
    auto const one = app::sampling_distribution(logits, {.temp = 1.0f, .top_k = 0, .top_p = 0.1f});
    REQUIRE(one.size() == 1);
    CHECK(one[0].id == 2);
    CHECK(one[0].p == 1.0);
  }

  TEST_CASE("Sampler: the same seed gives the same sequence") {
    std::mt19937_64 rng(test::seed());
    std::vector<std::vector<float>> steps;
    for (int i = 0; i < 64; ++i) steps.push_back(random_logits(rng, 200));
    auto const run = [&](std::uint64_t seed) {
      app::Sampler s({.temp = 1.0f, .top_k = 50, .top_p = 0.95f, .seed = seed});
      std::vector<int> out;
      for (auto const& l : steps) out.push_back(s.sample(l));
      return out;
    };
    CHECK(run(7) == run(7));
    CHECK(run(7) != run(8));
  }

  TEST_CASE("Sampler: temperature scales the logits before the softmax") {
    std::vector<float> const logits{1.0f, 0.0f, -1.0f, 2.0f};
    for (float const t : {0.5f, 1.0f, 2.0f}) {
      INFO("temp " << t);
      auto const d = app::sampling_distribution(logits, {.temp = t, .top_k = 0, .top_p = 1.0f});
      REQUIRE(d.size() == 4);
      double z = 0;
      for (float l : logits) z += std::exp(static_cast<double>(l) / static_cast<double>(t));
      for (auto const& c : d) {
        double const l = static_cast<double>(logits[static_cast<std::size_t>(c.id)]);
        CHECK(c.p == doctest::Approx(std::exp(l / static_cast<double>(t)) / z));
      }
    }
    // Hotter flattens: the top probability falls as the temperature rises.
    auto const top = [&](float t) {
      return app::sampling_distribution(logits, {.temp = t, .top_k = 0, .top_p = 1.0f})[0].p;
    };
    CHECK(top(0.5f) > top(1.0f));
    CHECK(top(1.0f) > top(2.0f));
    // Empirically: at T = 2, id 3 (logit 2) comes about e^{1/2}× as often as id 0 (logit 1).
    app::Sampler s({.temp = 2.0f, .top_k = 0, .top_p = 1.0f, .seed = test::seed()});
    int counts[4] = {};
    for (int i = 0; i < 40000; ++i) ++counts[s.sample(logits)];
    CHECK(static_cast<double>(counts[3]) / counts[0] == doctest::Approx(std::exp(0.5)).epsilon(0.06));
  }

  TEST_CASE("ChatML: exact ids on a handmade vocabulary") {
    Tokenizer const t(chat_vocab(true));
    REQUIRE(app::find_token_id(t, "<|im_start|>") == 258);
    REQUIRE(app::find_token_id(t, "<|im_end|>") == 259);
    CHECK_FALSE(app::find_token_id(t, "<|eot_id|>").has_value());
    int const s = 258, e = 259;
    std::vector<int> const got = app::build_chatml_prompt(t, "Be nice", "hi");
    // "system\n..." starts with the merged "sy" piece (257); the rest are single bytes.
    std::vector<int> const want = concat({{s, 257},
                                          byte_ids("stem\nBe nice"),
                                          {e},
                                          byte_ids("\n"),
                                          {s},
                                          byte_ids("user\nhi"),
                                          {e},
                                          byte_ids("\n"),
                                          {s},
                                          byte_ids("assistant\n")});
    CHECK(got == want);
    // No system message: the user turn comes first.
    CHECK(app::build_chatml_prompt(t, "", "hi") ==
          concat({{s}, byte_ids("user\nhi"), {e}, byte_ids("\n"), {s}, byte_ids("assistant\n")}));
    // The special tokens decode to nothing; the text between them comes back as written.
    CHECK(t.decode(got) == "system\nBe nice\nuser\nhi\nassistant\n");
    CHECK(app::stop_token_ids(t) == std::vector<int>{0, 259});
  }

  TEST_CASE("ChatML: chat format detection and missing tokens") {
    Tokenizer const chat(chat_vocab(true));
    Tokenizer const plain(chat_vocab(false));
    CHECK(app::detect_chat_format("", chat) == app::ChatFormat::kChatMl);
    CHECK(app::detect_chat_format("{% for m in messages %}<|im_start|>{{ m.role }}", chat) ==
          app::ChatFormat::kChatMl);
    CHECK_THROWS_WITH_AS(app::detect_chat_format("{{ '<|start_header_id|>' }}", chat),
                         doctest::Contains("not ChatML"), UsageError);
    CHECK_THROWS_WITH_AS(app::detect_chat_format("", plain), doctest::Contains("<|im_start|>"),
                         UsageError);
    CHECK_THROWS_AS(app::build_chatml_prompt(plain, "", "hi"), UsageError);
    CHECK(app::stop_token_ids(plain) == std::vector<int>{0});
  }

  TEST_CASE("Utf8Streamer: never emits a partial multi-byte sequence") {
    std::string const text = "h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x99\x82 ok \xC3\xA9";
    REQUIRE(valid_utf8(text));
    // Every way of cutting the text into two pieces, then random chunkings.
    for (std::size_t cut = 0; cut <= text.size(); ++cut) {
      app::Utf8Streamer s;
      std::string const a = s.push(std::string_view(text).substr(0, cut));
      std::string const b = s.push(std::string_view(text).substr(cut));
      CHECK(valid_utf8(a));
      CHECK(valid_utf8(b));
      CHECK(s.pending() == 0);
      CHECK(a + b == text);
    }
    std::mt19937_64 rng(test::seed());
    for (int iter = 0; iter < 200; ++iter) {
      app::Utf8Streamer s;
      std::string out;
      for (std::size_t pos = 0; pos < text.size();) {
        std::size_t const n = std::min<std::size_t>(rng() % 4, text.size() - pos);
        std::string const piece = s.push(std::string_view(text).substr(pos, n));
        CHECK(valid_utf8(piece));
        out += piece;
        pos += n;
      }
      out += s.finish();
      CHECK(out == text);
    }
    // Byte by byte: a 4-byte emoji comes out whole on its last byte.
    app::Utf8Streamer s;
    CHECK(s.push("\xF0") == "");
    CHECK(s.push("\x9F") == "");
    CHECK(s.push("\x99") == "");
    CHECK(s.pending() == 3);
    CHECK(s.push("\x82") == "\xF0\x9F\x99\x82");
    // Bytes that can never complete are passed on, not held forever.
    CHECK(s.push("\x80") == "\x80");
    CHECK(s.push("\xE4") == "");
    CHECK(s.push("a") == "\xE4" "a");
    CHECK(s.push("\xE4\xB8") == "");
    CHECK(s.finish() == "\xE4\xB8");
    CHECK(s.pending() == 0);
  }

  TEST_CASE("generate: greedy on stories260K is deterministic and matches full forwards") {
    auto const shared = test::shared_dir();
    auto const model = shared / "models/stories260K/stories260K.bin";
    auto const tok = shared / "models/stories260K/tok512.bin";
    if (shared.empty() || !std::filesystem::exists(model) || !std::filesystem::exists(tok)) {
      MESSAGE("skipped: ../shared/models/stories260K not found (set DFROT_SHARED_DIR)");
      return;
    }
    app::InferenceModel m = app::load_inference_model(model.string(), tok.string(), 64, 1);
    CHECK(m.engine == "fp32");
    CHECK(m.hooks == nullptr);
    model::LlamaModel const& lm = *m.loaded.model;
    std::vector<int> const prompt = m.loaded.tokenizer->encode("Once upon a time", true);
    app::GenerationOptions const o{.max_new_tokens = 10, .stop_ids = {}, .n_threads = 1};
    auto const run = [&] {
      app::Sampler greedy({.temp = 0.0f});
      std::vector<int> streamed;
      app::GenerationResult r =
          app::generate(lm, nullptr, prompt, greedy, o, [&](int id) { streamed.push_back(id); });
      CHECK(streamed == r.tokens);
      return r;
    };
    app::GenerationResult const a = run();
    REQUIRE(a.tokens.size() == 10);
    CHECK(a.stop == app::StopReason::kMaxTokens);
    CHECK(a.prompt_tokens == prompt.size());
    CHECK(a.decode_steps == 9);
    CHECK(run().tokens == a.tokens);
    std::vector<int> seq = prompt;
    for (int next : a.tokens) {
      model::KvCache cache = lm.make_cache();
      model::RowMatrixF const logits = lm.forward(seq, cache, nullptr, {.n_threads = 1});
      std::span<float const> const last(logits.data() + (logits.rows() - 1) * logits.cols(),
                                        static_cast<std::size_t>(logits.cols()));
      CHECK(app::argmax(last) == next);
      seq.push_back(next);
    }
    // llama.cpp's greedy ids for this prompt (../shared/fixtures/stories260K_greedy.txt; the
    // checkpoint's greedy text is not coherent, in llama.cpp either).
    CHECK(prompt == std::vector<int>{1, 403, 407, 261, 378});
    CHECK(a.tokens == std::vector<int>{473, 473, 473, 473, 473, 473, 473, 483, 339, 260});
    // A context that fills up stops generation there.
    app::InferenceModel small =
        app::load_inference_model(model.string(), tok.string(), prompt.size() + 3, 1);
    app::Sampler greedy({.temp = 0.0f});
    app::GenerationResult const full = app::generate(*small.loaded.model, nullptr, prompt, greedy, o);
    CHECK(full.stop == app::StopReason::kContextFull);
    CHECK(full.tokens.size() == 4);  // 3 fed back (filling the cache) + the last one sampled
    CHECK(std::vector<int>(a.tokens.begin(), a.tokens.begin() + 4) == full.tokens);
    app::Sampler g2({.temp = 0.0f});
    CHECK_THROWS_AS(app::generate(*small.loaded.model, nullptr, std::vector<int>(prompt.size() + 3, 1),
                                  g2, o),
                    UsageError);
  }
}

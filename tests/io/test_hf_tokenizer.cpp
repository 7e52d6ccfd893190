// SPDX-License-Identifier: Apache-2.0
// Hugging Face tokenizer.json / tokenizer_config.json -> TokenizerData (hf_tokenizer.hpp): tiny
// byte-level and SentencePiece-style files written here, encodings derived by hand, equivalence
// with a llama2.c tokenizer.bin carrying SentencePiece scores, HF checkpoint directories with a
// tokenizer, malformed files.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/hf_tokenizer.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"
#include "io/io_test_util.hpp"

using dfrot::FormatError;
using dfrot::io::read_hf_tokenizer;
using dfrot::io::TokenizerData;
using dfrot::test::TempDir;
using dfrot::test::write_text;
using dfrot::tokenizer::Tokenizer;
using json = nlohmann::json;

namespace {

constexpr char const* kG = "\xC4\xA0";       // GPT-2 alphabet for ' ' (U+0120)
constexpr char const* kSp = "\xE2\x96\x81";  // SentencePiece space U+2581

std::string g(std::string const& s) { return std::string(kG) + s; }
std::string sp(std::string const& s) { return std::string(kSp) + s; }

// A tiny byte-level BPE tokenizer.json. Ids 0..15 in model.vocab, 16 missing (a gap), 17 the
// special "<|endoftext|>". Merges (rank order):
//   0 h e   1 l l   2 ll o   3 he llo   4 Ġ w   5 o r   6 Ġw or   7 l d
// "hello" -> h e l l o -> he l l o -> he ll o -> he llo -> hello             = [11]
// " world" -> Ġ w o r l d -> Ġw o r l d -> Ġw or l d -> Ġwor l d -> Ġwor ld = [14, 15]
json byte_level_json(bool pair_merges, json pre_tokenizer = nullptr) {
  std::vector<std::string> const pieces = {"h",    "e",  "l",      "o",  "\xC4\xA0", "w",
                                           "r",    "d",  "he",     "ll", "llo",      "hello",
                                           g("w"), "or", g("wor"), "ld"};
  json vocab = json::object();
  for (std::size_t i = 0; i < pieces.size(); ++i) vocab[pieces[i]] = i;
  std::vector<std::pair<std::string, std::string>> const merges = {
      {"h", "e"}, {"l", "l"}, {"ll", "o"},    {"he", "llo"},
      {kG, "w"},  {"o", "r"}, {g("w"), "or"}, {"l", "d"}};
  json m = json::array();
  for (auto const& [a, b] : merges) {
    if (pair_merges) {
      m.push_back(json::array({a, b}));
    } else {
      m.push_back(a + " " + b);
    }
  }
  if (pre_tokenizer.is_null()) {
    pre_tokenizer = {{"type", "ByteLevel"},
                     {"add_prefix_space", false},
                     {"trim_offsets", true},
                     {"use_regex", true}};
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", json::array({{{"id", 17},
                                         {"content", "<|endoftext|>"},
                                         {"single_word", false},
                                         {"lstrip", false},
                                         {"rstrip", false},
                                         {"normalized", false},
                                         {"special", true}}})},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre_tokenizer},
          {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}}},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", ""},
            {"end_of_word_suffix", ""},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"vocab", vocab},
            {"merges", m}}}};
}

// The SentencePiece-style vocabulary shared by the HF file and the llama2.c tokenizer.bin:
// 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then the pieces below (259...).
std::vector<std::string> const& spm_pieces() {
  static std::vector<std::string> const p = {sp(""),  "a",  "b",       "c",  "t",  "h",   "e",
                                             sp("t"), "he", sp("the"), "ab", "bc", "abc", sp("a")};
  return p;
}
int spm_id(std::string const& piece) {
  auto const& p = spm_pieces();
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i] == piece) return 259 + static_cast<int>(i);
  FAIL("no piece " << piece);
  return -1;
}

// HF merges in priority order, as HF's converter writes them for a SentencePiece model whose
// piece scores are ▁t > he > ▁the > ab > ▁a > bc > abc.
//   0 ▁ t   1 h e   2 ▁t he   3 a b   4 ▁ a   5 b c   6 ab c   7 a bc
json spm_json(bool legacy_metaspace) {
  json vocab = json::object();
  vocab["<unk>"] = 0;
  vocab["<s>"] = 1;
  vocab["</s>"] = 2;
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    vocab[buf] = 3 + b;
  }
  for (auto const& p : spm_pieces()) vocab[p] = spm_id(p);
  json const merges = json::array(
      {sp("") + " t", "h e", sp("t") + " he", "a b", sp("") + " a", "b c", "ab c", "a bc"});
  auto special = [](int id, char const* s) {
    return json{{"id", id},        {"content", s},        {"single_word", false}, {"lstrip", false},
                {"rstrip", false}, {"normalized", false}, {"special", true}};
  };
  json t = {
      {"version", "1.0"},
      {"added_tokens", json::array({special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")})},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         json::array({{{"type", "Replace"}, {"pattern", {{"String", kSp}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}}})}}},
      {"model",
       {{"type", "BPE"},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", !legacy_metaspace},
        {"vocab", vocab},
        {"merges", merges}}}};
  if (legacy_metaspace) {  // older converter output: Metaspace pre-tokenizer, no normalizer
    t["normalizer"] = nullptr;
    t["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", kSp}, {"add_prefix_space", true}};
  } else {
    t["normalizer"] = {
        {"type", "Sequence"},
        {"normalizers",
         json::array({{{"type", "Prepend"}, {"prepend", kSp}},
                      {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSp}}})}};
    t["pre_tokenizer"] = nullptr;
  }
  return t;
}

// A llama2.c tokenizer.bin for the same vocabulary with SentencePiece-like scores (pieces with
// ' ' for U+2581, "\n<s>\n" / "\n</s>\n" as llama2.c's exporter writes them).
std::vector<std::uint8_t> spm_llama2c_bin() {
  std::vector<std::pair<std::string, float>> toks = {
      {"<unk>", 0.0f}, {"\n<s>\n", 0.0f}, {"\n</s>\n", 0.0f}};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    toks.emplace_back(buf, 0.0f);
  }
  std::map<std::string, float> const score = {{" t", -10.0f}, {"he", -11.0f}, {" the", -12.0f},
                                              {"ab", -13.0f}, {"bc", -15.0f}, {"abc", -16.0f},
                                              {" a", -14.0f}};
  for (auto p : spm_pieces()) {
    if (p.compare(0, 3, kSp) == 0) p = " " + p.substr(3);
    auto it = score.find(p);
    toks.emplace_back(p, it == score.end() ? -100.0f : it->second);
  }
  std::vector<std::uint8_t> out;
  dfrot::test::put(out, std::int32_t{16});
  for (auto const& [p, s] : toks) {
    dfrot::test::put(out, s);
    dfrot::test::put(out, static_cast<std::int32_t>(p.size()));
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

// --- a tiny HF checkpoint (F32 safetensors), independent of test_safetensors.cpp -------------

std::vector<std::uint8_t> f32_safetensors(
    std::map<std::string, std::vector<std::size_t>> const& t) {
  json header = json::object();
  std::vector<std::uint8_t> data;
  std::uint32_t seed = 7;
  for (auto const& [name, shape] : t) {
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    std::size_t const begin = data.size();
    for (float x : dfrot::test::test_values(n, seed++)) dfrot::test::put(data, x);
    header[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {begin, data.size()}}};
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text += ' ';
  std::vector<std::uint8_t> out;
  dfrot::test::put(out, static_cast<std::uint64_t>(text.size()));
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// hidden 8, 1 layer, 2 heads, 1 KV head, intermediate 16, tied embeddings, `vocab` tokens.
void write_tiny_hf_model(TempDir const& dir, std::size_t vocab,
                         json extra_config = json::object()) {
  json cfg = {{"architectures", {"LlamaForCausalLM"}},
              {"model_type", "llama"},
              {"hidden_size", 8},
              {"num_hidden_layers", 1},
              {"num_attention_heads", 2},
              {"num_key_value_heads", 1},
              {"intermediate_size", 16},
              {"vocab_size", vocab},
              {"max_position_embeddings", 64},
              {"tie_word_embeddings", true}};
  cfg.update(extra_config);
  write_text(dir / "config.json", cfg.dump(2));
  std::string const l = "model.layers.0.";
  dfrot::test::write_bytes(dir / "model.safetensors",
                           f32_safetensors({{"model.embed_tokens.weight", {vocab, 8}},
                                            {"model.norm.weight", {8}},
                                            {l + "input_layernorm.weight", {8}},
                                            {l + "post_attention_layernorm.weight", {8}},
                                            {l + "self_attn.q_proj.weight", {8, 8}},
                                            {l + "self_attn.k_proj.weight", {4, 8}},
                                            {l + "self_attn.v_proj.weight", {4, 8}},
                                            {l + "self_attn.o_proj.weight", {8, 8}},
                                            {l + "mlp.gate_proj.weight", {16, 8}},
                                            {l + "mlp.down_proj.weight", {8, 16}},
                                            {l + "mlp.up_proj.weight", {16, 8}}}));
}

TokenizerData load_json(TempDir const& dir, json const& tok, json const& cfg = nullptr) {
  write_text(dir / "tokenizer.json", tok.dump(1));
  if (!cfg.is_null()) write_text(dir / "tokenizer_config.json", cfg.dump(1));
  auto tk = read_hf_tokenizer(dir.path());
  REQUIRE(tk.has_value());
  return *tk;
}

}  // namespace

TEST_SUITE("io") {
  TEST_CASE("read_hf_tokenizer: byte-level BPE, both merges formats") {
    TempDir d1("hftok"), d2("hftok");
    TokenizerData const a = load_json(d1, byte_level_json(false));
    TokenizerData const b = load_json(d2, byte_level_json(true));
    for (TokenizerData const* tk : {&a, &b}) {
      CHECK(tk->kind == TokenizerData::Kind::kByteLevelBpe);
      CHECK(tk->pre == "gpt2");
      REQUIRE(tk->tokens.size() == 18);
      CHECK(tk->tokens[11] == "hello");
      CHECK(tk->tokens[17] == "<|endoftext|>");
      CHECK(tk->token_types[0] == dfrot::io::kTokenNormal);
      CHECK(tk->token_types[16] == dfrot::io::kTokenUnused);  // the gap
      CHECK(tk->token_types[17] == dfrot::io::kTokenControl);
      CHECK(tk->scores.empty());
      CHECK(tk->merges == std::vector<std::string>{"h e", "l l", "ll o", "he llo", g(" w"), "o r",
                                                   g("w or"), "l d"});
      CHECK(tk->bos_id == -1);
      CHECK(tk->eos_id == -1);
      CHECK(tk->unk_id == -1);
      CHECK_FALSE(tk->add_bos);
      CHECK_FALSE(tk->add_space_prefix);
    }
    CHECK(a.tokens == b.tokens);
    CHECK(a.token_types == b.token_types);
    Tokenizer const t(a);
    CHECK(t.encode("hello world", true) == std::vector<int>{11, 14, 15});  // no BOS known
    CHECK(t.encode("world hello", false) == std::vector<int>{5, 13, 15, 4, 11});
    CHECK(t.decode(std::vector<int>{11, 14, 15, 17}) == "hello world");  // control: nothing
  }

  TEST_CASE("read_hf_tokenizer: byte-level pre-tokenizer heuristic and tokenizer_config") {
    json const bl = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
    json const llama3 = {
        {"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Split"},
                       {"pattern",
                        {{"Regex",
                          "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                          "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                       {"behavior", "Isolated"},
                       {"invert", false}},
                      bl})}};
    json const smollm = {
        {"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Digits"}, {"individual_digits", true}},
                      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}})}};
    {
      TempDir d("hftok");
      json tok = byte_level_json(false, llama3);
      // LLaMA-3 style: BOS comes from the TemplateProcessing post-processor.
      tok["post_processor"] = {
          {"type", "TemplateProcessing"},
          {"single", json::array({{{"SpecialToken", {{"id", "<|endoftext|>"}, {"type_id", 0}}}},
                                  {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}};
      TokenizerData const tk = load_json(d, tok);
      CHECK(tk.pre == "llama-bpe");
      CHECK(tk.add_bos);
      CHECK(tk.bos_id == 17);
      Tokenizer const t(tk);
      CHECK(t.encode("hello world", true) == std::vector<int>{17, 11, 14, 15});
    }
    {
      TempDir d("hftok");
      TokenizerData const tk = load_json(d, byte_level_json(true, smollm),
                                         {{"add_bos_token", false},
                                          {"bos_token", {{"content", "<|endoftext|>"}}},
                                          {"eos_token", "<|endoftext|>"}});
      CHECK(tk.pre == "smollm");
      CHECK_FALSE(tk.add_bos);
      CHECK(tk.bos_id == 17);
      CHECK(tk.eos_id == 17);
      CHECK(Tokenizer(tk).encode("hello world", false) == std::vector<int>{11, 14, 15});
    }
    {  // A Split regex that is not LLaMA-3's: GPT-2 rules.
      TempDir d("hftok");
      json other = llama3;
      other["pretokenizers"][0]["pattern"]["Regex"] = "\\p{N}+|\\s+";
      CHECK(load_json(d, byte_level_json(false, other)).pre == "gpt2");
    }
    {  // Unsupported: ByteLevel with add_prefix_space, or a WordPiece model -> no tokenizer.
      TempDir d("hftok");
      write_text(
          d / "tokenizer.json",
          byte_level_json(false, {{"type", "ByteLevel"}, {"add_prefix_space", true}}).dump());
      CHECK_FALSE(read_hf_tokenizer(d.path()).has_value());
      json wp = byte_level_json(false);
      wp["model"]["type"] = "WordPiece";
      write_text(d / "tokenizer.json", wp.dump());
      CHECK_FALSE(read_hf_tokenizer(d.path()).has_value());
    }
    {  // No tokenizer.json: nothing, no error.
      TempDir d("hftok");
      CHECK_FALSE(read_hf_tokenizer(d.path()).has_value());
    }
  }

  TEST_CASE("read_hf_tokenizer: SentencePiece-converted BPE (byte fallback), scores from ranks") {
    for (bool legacy : {false, true}) {
      INFO("legacy Metaspace " << legacy);
      TempDir d("hftok");
      TokenizerData const tk = load_json(d, spm_json(legacy));
      CHECK(tk.kind == TokenizerData::Kind::kSentencePieceBpe);
      REQUIRE(tk.tokens.size() == 259 + spm_pieces().size());
      CHECK(tk.add_space_prefix);
      CHECK(tk.add_bos);
      CHECK(tk.bos_id == 1);
      CHECK(tk.eos_id == 2);
      CHECK(tk.unk_id == 0);
      CHECK(tk.token_types[0] == dfrot::io::kTokenUnknown);
      CHECK(tk.token_types[1] == dfrot::io::kTokenControl);
      CHECK(tk.token_types[3 + 0x0A] == dfrot::io::kTokenByte);
      CHECK(tk.token_types[static_cast<std::size_t>(spm_id("a"))] == dfrot::io::kTokenNormal);
      REQUIRE(tk.scores.size() == tk.tokens.size());
      auto score = [&](std::string const& p) {
        return tk.scores[static_cast<std::size_t>(spm_id(p))];
      };
      CHECK(score(sp("t")) == 0.0f);
      CHECK(score("he") == -1.0f);
      CHECK(score(sp("the")) == -2.0f);
      CHECK(score("ab") == -3.0f);
      CHECK(score("abc") == -6.0f);  // best of ranks 6 and 7
      CHECK(score("a") == -9.0f);    // made by no merge: -(n_merges + 1)

      Tokenizer const t(tk);
      // "▁the▁abc": ▁ t h e ▁ a b c -> ▁t .. -> ▁t he .. -> ▁the .. -> ▁the ▁ ab c (ab before ▁a)
      // -> ▁the ▁ abc;  "\n" and "é" (C3 A9) fall back to byte tokens.
      std::vector<int> const expect = {1,        spm_id(sp("the")), spm_id(sp("")), spm_id("abc"),
                                       3 + 0x0A, 3 + 0xC3,          3 + 0xA9};
      CHECK(t.encode("the abc\n\xC3\xA9", true) == expect);
      CHECK(t.encode("cab", false) == std::vector<int>{spm_id(sp("")), spm_id("c"), spm_id("ab")});
      CHECK(t.decode(expect) == "the abc\n\xC3\xA9");
    }
    {  // tokenizer_config overrides BOS handling.
      TempDir d("hftok");
      TokenizerData const tk =
          load_json(d, spm_json(false), {{"add_bos_token", false}, {"eos_token", "<s>"}});
      CHECK_FALSE(tk.add_bos);
      CHECK(tk.eos_id == 1);
    }
  }

  TEST_CASE("read_hf_tokenizer: LLaMA-2-like file == llama2.c tokenizer.bin with SPM scores") {
    TempDir d("hftok");
    Tokenizer const hf(load_json(d, spm_json(false)));
    dfrot::test::write_bytes(d / "tokenizer.bin", spm_llama2c_bin());
    Tokenizer const l2c(
        dfrot::io::tokenizer_from_llama2c(dfrot::io::read_llama2c_tokenizer(d / "tokenizer.bin")));
    REQUIRE(hf.n_vocab() == l2c.n_vocab());
    for (std::size_t i = 0; i < hf.n_vocab(); ++i) {
      CHECK(hf.token_piece(static_cast<int>(i)) == l2c.token_piece(static_cast<int>(i)));
    }
    for (char const* text : {"the abc", "cab", "abc the", "bca bc a", "thethe", " a  the\tab",
                             "habc\xC3\xA9 the", "the the abcabc", "a", ""}) {
      INFO(text);
      CHECK(hf.encode(text, true) == l2c.encode(text, true));
      CHECK(hf.decode(hf.encode(text, true)) == text);
    }
  }

  TEST_CASE("load_llama_checkpoint: HF directory carries its tokenizer") {
    TempDir d("hftok");
    write_tiny_hf_model(d, 18, {{"eos_token_id", 17}});
    CHECK_FALSE(dfrot::io::load_llama_checkpoint(d.path()).tokenizer.has_value());
    write_text(d / "tokenizer.json", byte_level_json(true).dump());
    auto const ck = dfrot::io::load_llama_checkpoint(d.path());
    REQUIRE(ck.tokenizer.has_value());
    CHECK(ck.tokenizer->tokens.size() == 18);
    CHECK(ck.tokenizer->eos_id == 17);  // from config.json
    CHECK(ck.hparams.eos_id == 17);
    CHECK(Tokenizer(*ck.tokenizer).encode("hello world", false) == std::vector<int>{11, 14, 15});
    // A tokenizer larger than the model's vocabulary is rejected.
    TempDir small("hftok");
    write_tiny_hf_model(small, 16);
    write_text(small / "tokenizer.json", byte_level_json(false).dump());
    CHECK_THROWS_AS(dfrot::io::load_llama_checkpoint(small.path()), FormatError);
  }

  TEST_CASE("read_hf_tokenizer: malformed files throw FormatError naming file and field") {
    TempDir d("hftok");
    auto expect = [&](json const& tok, char const* what) {
      INFO(what);
      write_text(d / "tokenizer.json", tok.dump());
      CHECK_THROWS_WITH_AS(read_hf_tokenizer(d.path()), doctest::Contains("tokenizer.json"),
                           FormatError);
      CHECK_THROWS_WITH_AS(read_hf_tokenizer(d.path()), doctest::Contains(what), FormatError);
    };
    write_text(d / "tokenizer.json", "{ \"model\": ");
    CHECK_THROWS_WITH_AS(read_hf_tokenizer(d.path()), doctest::Contains("tokenizer.json"),
                         FormatError);
    expect(json::array(), "not a json object");
    expect(json{{"version", "1.0"}}, "'model'");
    json t = byte_level_json(false);
    t["model"].erase("vocab");
    expect(t, "model.vocab");
    t = byte_level_json(false);
    t["model"]["vocab"]["he"] = "x";
    expect(t, "model.vocab");
    t = byte_level_json(false);
    t["model"].erase("merges");
    expect(t, "model.merges");
    t = byte_level_json(false);
    t["model"]["merges"][2] = "llo";
    expect(t, "model.merges[2]");
    t = byte_level_json(true);
    t["model"]["merges"][1] = json::array({"l"});
    expect(t, "model.merges[1]");
    t = byte_level_json(false);
    t["model"]["merges"][0] = "h w";  // "hw" is not a token
    expect(t, "model.merges[0]");
    t = byte_level_json(false);
    t["added_tokens"][0]["id"] = 3;  // clashes with "o"
    expect(t, "added_tokens");
    t = byte_level_json(false);
    t["added_tokens"][0].erase("content");
    expect(t, "added_tokens[0]");
    t = spm_json(false);
    t["model"]["unk_token"] = "<nope>";
    expect(t, "model.unk_token");
    // tokenizer_config.json problems name that file.
    write_text(d / "tokenizer.json", byte_level_json(false).dump());
    write_text(d / "tokenizer_config.json", "[1, 2");
    CHECK_THROWS_WITH_AS(read_hf_tokenizer(d.path()), doctest::Contains("tokenizer_config.json"),
                         FormatError);
    write_text(d / "tokenizer_config.json", json{{"bos_token", "<nope>"}}.dump());
    CHECK_THROWS_WITH_AS(read_hf_tokenizer(d.path()),
                         doctest::Contains("tokenizer_config.json': field 'bos_token'"),
                         FormatError);
    write_text(d / "tokenizer_config.json", json{{"add_bos_token", "yes"}}.dump());
    CHECK_THROWS_WITH_AS(read_hf_tokenizer(d.path()), doctest::Contains("add_bos_token"),
                         FormatError);
    // Through the checkpoint loader too.
    write_tiny_hf_model(d, 18);
    write_text(d / "tokenizer_config.json", "{}");
    write_text(d / "tokenizer.json", "not json");
    CHECK_THROWS_WITH_AS(dfrot::io::load_llama_checkpoint(d.path()),
                         doctest::Contains("tokenizer.json"), FormatError);
  }
}

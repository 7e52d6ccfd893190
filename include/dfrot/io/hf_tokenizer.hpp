// SPDX-License-Identifier: Apache-2.0
/// \file
/// Hugging Face `tokenizer.json` (+ optional `tokenizer_config.json`) -> io::TokenizerData, for
/// the two BPE families dfrot's tokenizers implement:
///
/// * Byte-level BPE (GPT-2, LLaMA-3, SmolLM2): `model.type` "BPE" and a ByteLevel pre-tokenizer
///   or decoder -> Kind::kByteLevelBpe. Tokens are ordered by id (ids missing from both
///   `model.vocab` and `added_tokens` get a "<dfrot_unused_ID>" placeholder typed unused), merges
///   are stored as "left right" (HF writes them as "a b" strings or as ["a", "b"] pairs), special
///   added tokens are control tokens, other added tokens user-defined.
///   `pre` heuristic (the pre-tokenizer regexes are not interpreted, only recognized):
///     - a Split pre-tokenizer whose regex contains LLaMA-3's case-insensitive contractions
///       "(?i:'s|'t|'re|'ve|'m|'ll|'d)" and "\p{N}{1,3}"                        -> "llama-bpe";
///     - a Digits pre-tokenizer with individual_digits = true (SmolLM/SmolLM2's Sequence of
///       Digits + ByteLevel)                                                    -> "smollm";
///     - anything else (plain ByteLevel with its built-in GPT-2 regex)          -> "gpt2".
///   Other Split regexes (Qwen2, GPT-4o, ...) are therefore tokenized with GPT-2's rules.
///
/// * SentencePiece-converted BPE (LLaMA-1/2, Mistral): `model.type` "BPE" with
///   `byte_fallback: true`, or a Metaspace / "▁" (U+2581) normalizer or pre-tokenizer ->
///   Kind::kSentencePieceBpe. SpmBpe merges by piece score, so scores are derived from the merge
///   list: a piece created by merge rank r scores -r (the best rank when several merges create
///   it); pieces no merge creates score -(n_merges + 1) (single characters: never merged into).
///   SpmBpe then applies merges in HF's priority order. It differs from HF only when a piece can
///   be formed from a split that has no merge of its own (HF's converter writes every such split
///   for SentencePiece vocabularies, so converted LLaMA tokenizers match). "<0xXX>" pieces are byte
///   tokens, `model.unk_token` the unknown token. add_space_prefix: a Prepend "▁" normalizer or a
///   Metaspace pre-tokenizer with add_prefix_space = true / prepend_scheme "first" or "always".
///
/// BOS/EOS/add_bos: `tokenizer_config.json`'s add_bos_token, bos_token and eos_token (strings or
/// {"content": ...}) when present; else a TemplateProcessing post-processor whose "single"
/// template starts with a special token sets add_bos and BOS; else SentencePiece vocabularies
/// use "<s>"/"</s>" and add BOS, byte-level ones have neither and add none.
///
/// Unsupported tokenizers (model.type other than "BPE", BPE without ByteLevel / byte fallback /
/// Metaspace, ByteLevel with add_prefix_space = true) give nullopt: the checkpoint loads without
/// a tokenizer, as GGUF files with other tokenizer models do. Malformed JSON or missing / mistyped
/// fields throw FormatError naming the file and the field.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/llama_checkpoint.hpp"

namespace dfrot::io {

namespace detail {

/// Calls `f(node)` for `node` and, recursively, for the members of HF "Sequence" components
/// (keys "normalizers", "pretokenizers", "decoders", "processors").
template <class F>
void hf_for_each_component(nlohmann::json const& node, F&& f) {
  if (!node.is_object()) return;
  f(node);
  for (char const* key : {"normalizers", "pretokenizers", "decoders", "processors"}) {
    auto it = node.find(key);
    if (it != node.end() && it->is_array()) {
      for (nlohmann::json const& child : *it) hf_for_each_component(child, f);
    }
  }
}

inline std::string hf_type(nlohmann::json const& node) {
  auto it = node.find("type");
  return it != node.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// The string of a tokenizer_config.json token entry: "<s>" or {"content": "<s>", ...}.
inline std::optional<std::string> hf_token_string(nlohmann::json const& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) {
    auto it = v.find("content");
    if (it != v.end() && it->is_string()) return it->get<std::string>();
  }
  return std::nullopt;
}

}  // namespace detail

namespace detail {
inline std::optional<TokenizerData> tokenizer_from_hf_json_unchecked(nlohmann::json const& tok,
                                                                     std::string const& where,
                                                                     nlohmann::json const& config,
                                                                     std::string const& config_where) {
  DFROT_THROW_IF(!tok.is_object(), FormatError, where, ": not a json object");
  auto const model_it = tok.find("model");
  DFROT_THROW_IF(model_it == tok.end() || !model_it->is_object(), FormatError, where,
                 ": field 'model' is missing or not an object");
  nlohmann::json const& model = *model_it;
  // Old files without model.type are BPE when they have merges.
  std::string const model_type =
      model.contains("type") ? detail::hf_type(model) : (model.contains("merges") ? "BPE" : "");
  if (model_type != "BPE") return std::nullopt;

  nlohmann::json const null_json;
  auto component = [&](char const* key) -> nlohmann::json const& {
    auto it = tok.find(key);
    return it == tok.end() ? null_json : *it;
  };
  nlohmann::json const& normalizer = component("normalizer");
  nlohmann::json const& pre_tok = component("pre_tokenizer");
  nlohmann::json const& decoder = component("decoder");
  nlohmann::json const& post = component("post_processor");

  // --- family --------------------------------------------------------------------------------
  bool byte_level = false, byte_level_prefix = false, metaspace = false, prepend_space = false;
  bool llama3_regex = false, individual_digits = false;
  detail::hf_for_each_component(pre_tok, [&](nlohmann::json const& c) {
    std::string const t = detail::hf_type(c);
    if (t == "ByteLevel") {
      byte_level = true;
      if (c.value("add_prefix_space", false)) byte_level_prefix = true;
    } else if (t == "Metaspace") {
      metaspace = true;
      std::string const scheme = c.value("prepend_scheme", std::string());
      if (c.value("add_prefix_space", false) || scheme == "first" || scheme == "always")
        prepend_space = true;
    } else if (t == "Digits") {
      if (c.value("individual_digits", false)) individual_digits = true;
    } else if (t == "Split") {
      auto p = c.find("pattern");
      if (p != c.end() && p->is_object() && p->contains("Regex") && (*p)["Regex"].is_string()) {
        std::string const re = (*p)["Regex"].get<std::string>();
        if (re.find("(?i:'s|'t|'re|'ve|'m|'ll|'d)") != std::string::npos &&
            re.find("\\p{N}{1,3}") != std::string::npos)
          llama3_regex = true;
      }
    }
  });
  detail::hf_for_each_component(decoder, [&](nlohmann::json const& c) {
    std::string const t = detail::hf_type(c);
    if (t == "ByteLevel") byte_level = true;
    if (t == "Metaspace") metaspace = true;
  });
  detail::hf_for_each_component(normalizer, [&](nlohmann::json const& c) {
    std::string const t = detail::hf_type(c);
    if (t == "Prepend" && c.value("prepend", std::string()) == "\xE2\x96\x81") {
      prepend_space = true;
      metaspace = true;
    }
    if (t == "Replace" && c.value("content", std::string()) == "\xE2\x96\x81") metaspace = true;
  });
  bool const byte_fallback = model.value("byte_fallback", false);

  TokenizerData tk;
  if (byte_level) {
    if (byte_level_prefix) return std::nullopt;  // " " prefix: not implemented by ByteBpe
    tk.kind = TokenizerData::Kind::kByteLevelBpe;
    tk.pre = llama3_regex ? "llama-bpe" : individual_digits ? "smollm" : "gpt2";
  } else if (byte_fallback || metaspace) {
    tk.kind = TokenizerData::Kind::kSentencePieceBpe;
    tk.pre = "default";
  } else {
    return std::nullopt;
  }
  bool const spm = tk.kind == TokenizerData::Kind::kSentencePieceBpe;

  // --- vocabulary ------------------------------------------------------------------------------
  auto const vocab_it = model.find("vocab");
  DFROT_THROW_IF(vocab_it == model.end() || !vocab_it->is_object(), FormatError, where,
                 ": field 'model.vocab' is missing or not an object");
  constexpr std::size_t kMaxVocab = std::size_t{1} << 24;
  std::map<std::size_t, std::string> by_id;  // id -> piece
  std::map<std::size_t, int> added_type;     // id -> control / user-defined
  auto add = [&](std::size_t id, std::string const& piece, char const* field) {
    DFROT_THROW_IF(id >= kMaxVocab, FormatError, where, ": field '", field, "': token '", piece,
                   "' has implausible id ", id);
    auto [it, inserted] = by_id.emplace(id, piece);
    DFROT_THROW_IF(!inserted && it->second != piece, FormatError, where, ": field '", field,
                   "': id ", id, " is used by both '", it->second, "' and '", piece, "'");
  };
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
    DFROT_THROW_IF(!it.value().is_number_unsigned(), FormatError, where,
                   ": field 'model.vocab': token '", it.key(), "' has no non-negative integer id");
    add(it.value().get<std::size_t>(), it.key(), "model.vocab");
  }
  if (auto at = tok.find("added_tokens"); at != tok.end() && !at->is_null()) {
    DFROT_THROW_IF(!at->is_array(), FormatError, where, ": field 'added_tokens' is not an array");
    std::size_t k = 0;
    for (nlohmann::json const& a : *at) {
      DFROT_THROW_IF(!a.is_object() || !a.contains("id") || !a["id"].is_number_unsigned() ||
                         !a.contains("content") || !a["content"].is_string(),
                     FormatError, where, ": field 'added_tokens[", k,
                     "]' needs a non-negative integer 'id' and a string 'content'");
      std::size_t const id = a["id"].get<std::size_t>();
      add(id, a["content"].get<std::string>(), "added_tokens");
      added_type[id] = a.value("special", false) ? kTokenControl : kTokenUserDefined;
      ++k;
    }
  }
  DFROT_THROW_IF(by_id.empty(), FormatError, where, ": field 'model.vocab' is empty");
  std::size_t const n = by_id.rbegin()->first + 1;
  // Gaps get placeholders; a sparse table (ids far above the count of tokens) is refused before
  // building them (real vocabularies are dense, with a few reserved holes).
  DFROT_THROW_IF(n > 2 * by_id.size() + 1024, FormatError, where, ": ", by_id.size(),
                 " tokens but the largest id is ", n - 1, " (ids this sparse are implausible)");
  tk.tokens.resize(n);
  tk.token_types.assign(n, kTokenUnused);
  std::map<std::string, int, std::less<>> piece_id;  // first id of each piece
  for (std::size_t id = 0; id < n; ++id) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      tk.tokens[id] = str_cat("<dfrot_unused_", id, ">");
      continue;
    }
    tk.tokens[id] = it->second;
    piece_id.emplace(it->second, static_cast<int>(id));
    int type = kTokenNormal;
    if (auto a = added_type.find(id); a != added_type.end()) type = a->second;
    std::string const& p = it->second;
    if (spm && type == kTokenNormal && p.size() == 6 && p.compare(0, 3, "<0x") == 0 &&
        p[5] == '>' && std::isxdigit(static_cast<unsigned char>(p[3])) &&
        std::isxdigit(static_cast<unsigned char>(p[4]))) {
      type = kTokenByte;
    }
    tk.token_types[id] = type;
  }
  auto find_id = [&](std::string const& piece) {
    auto it = piece_id.find(piece);
    return it == piece_id.end() ? -1 : it->second;
  };
  if (auto u = model.find("unk_token"); u != model.end() && u->is_string()) {
    tk.unk_id = find_id(u->get<std::string>());
    DFROT_THROW_IF(tk.unk_id < 0, FormatError, where, ": field 'model.unk_token' '",
                   u->get<std::string>(), "' is not in the vocabulary");
    tk.token_types[static_cast<std::size_t>(tk.unk_id)] = kTokenUnknown;
  }

  // --- merges ----------------------------------------------------------------------------------
  auto const merges_it = model.find("merges");
  DFROT_THROW_IF(merges_it == model.end() || !merges_it->is_array(), FormatError, where,
                 ": field 'model.merges' is missing or not an array");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(merges_it->size());
  for (nlohmann::json const& m : *merges_it) {
    std::size_t const r = merges.size();
    if (m.is_string()) {
      std::string const s = m.get<std::string>();
      std::size_t const sp = s.find(' ', 1);
      DFROT_THROW_IF(
          sp == std::string::npos || sp + 1 >= s.size() || s.find(' ', sp + 1) != std::string::npos,
          FormatError, where, ": field 'model.merges[", r, "]' '", s, "' is not 'left right'");
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else {
      DFROT_THROW_IF(!m.is_array() || m.size() != 2 || !m[0].is_string() || !m[1].is_string(),
                     FormatError, where, ": field 'model.merges[", r,
                     "]' is neither 'left right' nor a [left, right] pair");
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    }
    auto const& [l, rt] = merges.back();
    DFROT_THROW_IF(l.empty() || rt.empty(), FormatError, where, ": field 'model.merges[", r,
                   "]' has an empty side");
    DFROT_THROW_IF(find_id(l + rt) < 0, FormatError, where, ": field 'model.merges[", r, "]' ('", l,
                   "', '", rt, "') makes '", l + rt, "', which is not in the vocabulary");
  }
  if (spm) {
    float const low = -static_cast<float>(merges.size() + 1);
    tk.scores.assign(n, low);
    for (std::size_t r = merges.size(); r-- > 0;) {  // lowest rank written last, so it wins
      auto const& [l, rt] = merges[r];
      tk.scores[static_cast<std::size_t>(find_id(l + rt))] = -static_cast<float>(r);
    }
  } else {
    tk.merges.reserve(merges.size());
    for (auto const& [l, rt] : merges) {
      DFROT_THROW_IF(l.find(' ') != std::string::npos || rt.find(' ') != std::string::npos,
                     FormatError, where, ": field 'model.merges': byte-level piece '",
                     l.find(' ') != std::string::npos ? l : rt, "' contains a space");
      tk.merges.push_back(l + " " + rt);
    }
  }

  // --- BOS / EOS / prefix ----------------------------------------------------------------------
  tk.add_space_prefix = spm && prepend_space;
  tk.add_bos = spm;
  if (spm) {
    tk.bos_id = find_id("<s>");
    tk.eos_id = find_id("</s>");
  }
  if (post.is_object() && detail::hf_type(post) == "TemplateProcessing") {
    auto single = post.find("single");
    if (single != post.end() && single->is_array() && !single->empty()) {
      nlohmann::json const& first = (*single)[0];
      if (first.is_object() && first.contains("SpecialToken") &&
          first["SpecialToken"].is_object() && first["SpecialToken"].contains("id") &&
          first["SpecialToken"]["id"].is_string()) {
        int const id = find_id(first["SpecialToken"]["id"].get<std::string>());
        if (id >= 0) {
          tk.add_bos = true;
          tk.bos_id = id;
        }
      } else {
        tk.add_bos = false;
      }
    }
  }
  if (!config.is_null()) {
    DFROT_THROW_IF(!config.is_object(), FormatError, config_where, ": not a json object");
    if (auto it = config.find("add_bos_token"); it != config.end() && !it->is_null()) {
      DFROT_THROW_IF(!it->is_boolean(), FormatError, config_where,
                     ": field 'add_bos_token' is not a boolean");
      tk.add_bos = it->get<bool>();
    }
    for (auto [key, out] : {std::pair<char const*, int*>{"bos_token", &tk.bos_id},
                            std::pair<char const*, int*>{"eos_token", &tk.eos_id}}) {
      auto it = config.find(key);
      if (it == config.end() || it->is_null()) continue;
      std::optional<std::string> const s = detail::hf_token_string(*it);
      DFROT_THROW_IF(!s, FormatError, config_where, ": field '", key,
                     "' is neither a string nor an object with 'content'");
      int const id = find_id(*s);
      DFROT_THROW_IF(id < 0, FormatError, config_where, ": field '", key, "' '", *s,
                     "' is not in the vocabulary of ", where);
      *out = id;
    }
  }
  return tk;
}
}  // namespace detail

/// Converts a parsed tokenizer.json (and tokenizer_config.json, `config` may be null) into
/// TokenizerData; `where` / `config_where` name the files in error messages.
/// \returns nullopt for tokenizer kinds dfrot does not implement.
/// \throws FormatError for malformed content (a field of the wrong JSON type included).
inline std::optional<TokenizerData> tokenizer_from_hf_json(nlohmann::json const& tok,
                                                           std::string const& where,
                                                           nlohmann::json const& config = {},
                                                           std::string const& config_where = {}) {
  try {
    return detail::tokenizer_from_hf_json_unchecked(tok, where, config, config_where);
  } catch (nlohmann::json::exception const& e) {  // .value()/.get() on a field of another type
    throw FormatError(str_cat(where, ": malformed field: ", e.what()));
  }
}

/// Reads `dir`/tokenizer.json (and `dir`/tokenizer_config.json when present).
/// \returns nullopt when there is no tokenizer.json or its tokenizer kind is unsupported.
/// \throws FormatError naming the file and field for malformed content; IoError when unreadable.
inline std::optional<TokenizerData> read_hf_tokenizer(std::filesystem::path const& dir) {
  std::filesystem::path const tok_path = dir / "tokenizer.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(tok_path, ec)) return std::nullopt;
  nlohmann::json const tok = detail::read_json_file(tok_path);
  std::filesystem::path const cfg_path = dir / "tokenizer_config.json";
  nlohmann::json cfg;
  if (std::filesystem::is_regular_file(cfg_path, ec)) cfg = detail::read_json_file(cfg_path);
  return tokenizer_from_hf_json(tok, str_cat("json '", tok_path.string(), "'"), cfg,
                                str_cat("json '", cfg_path.string(), "'"));
}

}  // namespace dfrot::io

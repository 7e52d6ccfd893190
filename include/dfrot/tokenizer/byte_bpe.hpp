// SPDX-License-Identifier: Apache-2.0
// ByteBpe: byte-level BPE (GPT-2 byte-to-unicode alphabet, merge ranks) with the pre-tokenizer
// splitting rules of GPT-2, LLaMA-3 ("llama-bpe") and SmolLM ("smollm"), written by hand over
// UTF-8 code points.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/tokenizer/unicode.hpp"

namespace dfrot::tokenizer {

/// Pre-tokenizer (regex split) flavours, named after GGUF's tokenizer.ggml.pre.
enum class PreTokenizer {
  kGpt2,    ///< 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kLlama3,  ///< (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
            ///< ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+   (+ whole-word lookup first)
  kSmollm,  ///< every \p{N} on its own, then kGpt2 on the rest
};

/// Maps GGUF tokenizer.ggml.pre to a PreTokenizer.
/// \throws FormatError for names dfrot does not implement.
inline PreTokenizer parse_pre_tokenizer(std::string_view pre) {
  if (pre == "gpt2" || pre == "default" || pre.empty()) return PreTokenizer::kGpt2;
  if (pre == "llama-bpe" || pre == "llama3") return PreTokenizer::kLlama3;
  if (pre == "smollm") return PreTokenizer::kSmollm;
  throw FormatError(str_cat("byte-level bpe: unsupported pre-tokenizer '", pre,
                            "' (supported: gpt2, default, llama-bpe, smollm)"));
}

/// GPT-2's reversible byte -> code point map: printable Latin-1 bytes ('!'..'~', U+00A1..U+00AC,
/// U+00AE..U+00FF) map to themselves, the other 68 bytes to U+0100, U+0101, ... in byte order.
inline std::array<std::uint32_t, 256> const& byte_to_codepoint() {
  static std::array<std::uint32_t, 256> const table = [] {
    std::array<std::uint32_t, 256> t{};
    std::uint32_t next = 256;
    for (std::uint32_t b = 0; b < 256; ++b) {
      bool const printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      t[b] = printable ? b : next++;
    }
    return t;
  }();
  return table;
}

/// Splits `text` into pre-tokens (byte ranges that cover the text exactly, in order).
/// Unicode classes: \p{L} and \p{N} from the Unicode 14 general categories, \s = White_Space;
/// malformed UTF-8 bytes count as "other" (neither letter, number nor space). The llama3 (?i:...)
/// contractions are case-insensitive for ASCII letters only.
inline std::vector<std::string_view> pre_tokenize(std::string_view text, PreTokenizer kind) {
  std::vector<std::string_view> out;
  std::vector<Utf8Char> const cps = decode_utf8(text);
  std::size_t const n = cps.size();
  auto cp = [&](std::size_t i) { return i < n ? cps[i].cp : kInvalidCodepoint; };
  auto is_l = [&](std::size_t i) { return i < n && is_letter(cps[i].cp); };
  auto is_n = [&](std::size_t i) { return i < n && is_number(cps[i].cp); };
  auto is_s = [&](std::size_t i) { return i < n && is_whitespace(cps[i].cp); };
  auto is_nl = [&](std::size_t i) { return i < n && (cps[i].cp == '\r' || cps[i].cp == '\n'); };
  auto is_other = [&](std::size_t i) { return i < n && !is_s(i) && !is_l(i) && !is_n(i); };
  auto emit = [&](std::size_t begin, std::size_t end) {  // code point range [begin, end)
    std::size_t const b = cps[begin].offset;
    std::size_t const e = end < n ? cps[end].offset : text.size();
    out.push_back(text.substr(b, e - b));
  };
  // Length (code points) of a contraction 's 't 're 've 'm 'll 'd at i, or 0.
  auto contraction = [&](std::size_t i, bool ignore_case) -> std::size_t {
    if (cp(i) != '\'') return 0;
    auto lower = [&](std::size_t k) -> std::uint32_t {
      std::uint32_t c = cp(k);
      if (ignore_case && c >= 'A' && c <= 'Z') c += 32;
      return c;
    };
    std::uint32_t const a = lower(i + 1), b = lower(i + 2);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
  };
  auto space_run = [&](std::size_t i) {
    std::size_t k = i;
    while (is_s(k)) ++k;
    return k - i;
  };
  // \s+(?!\S) then \s+ at i (i is whitespace): the run, minus its last character when a
  // non-space follows and the run is longer than one.
  auto whitespace_tail = [&](std::size_t i) {
    std::size_t const k = space_run(i);
    return (i + k < n && k > 1) ? k - 1 : k;
  };

  auto gpt2_match = [&](std::size_t i) -> std::size_t {
    if (std::size_t const c = contraction(i, false)) return c;
    std::size_t const j = cp(i) == ' ' ? i + 1 : i;
    if (is_l(j)) {
      std::size_t k = j;
      while (is_l(k)) ++k;
      return k - i;
    }
    if (is_n(j)) {
      std::size_t k = j;
      while (is_n(k)) ++k;
      return k - i;
    }
    if (is_other(j)) {
      std::size_t k = j;
      while (is_other(k)) ++k;
      return k - i;
    }
    return whitespace_tail(i);
  };

  auto llama3_match = [&](std::size_t i) -> std::size_t {
    if (std::size_t const c = contraction(i, true)) return c;
    if (is_l(i) || (i < n && !is_nl(i) && !is_l(i) && !is_n(i) && is_l(i + 1))) {
      std::size_t k = is_l(i) ? i : i + 1;
      while (is_l(k)) ++k;
      return k - i;
    }
    if (is_n(i)) {
      std::size_t k = i;
      while (is_n(k) && k - i < 3) ++k;
      return k - i;
    }
    {
      std::size_t const j = cp(i) == ' ' ? i + 1 : i;
      if (is_other(j)) {
        std::size_t k = j;
        while (is_other(k)) ++k;
        while (is_nl(k)) ++k;
        return k - i;
      }
    }
    // \s*[\r\n]+ : up to and including the last newline of the whitespace run.
    std::size_t const run = space_run(i);
    for (std::size_t k = run; k > 0; --k) {
      if (is_nl(i + k - 1)) return k;
    }
    return whitespace_tail(i);
  };

  std::size_t seg_end = 0;  // smollm: end of the current run without numbers
  std::size_t i = 0;
  while (i < n) {
    std::size_t len = 0;
    switch (kind) {
      case PreTokenizer::kGpt2:
        len = gpt2_match(i);
        break;
      case PreTokenizer::kLlama3:
        len = llama3_match(i);
        break;
      case PreTokenizer::kSmollm:
        // Every number stands alone; GPT-2 rules apply inside each number-free segment, so a
        // whitespace run that reaches the segment's end is taken whole (nothing follows it there).
        if (is_n(i)) {
          len = 1;
          break;
        }
        if (seg_end <= i) {
          seg_end = i;
          while (seg_end < n && !is_n(seg_end)) ++seg_end;
        }
        if (is_s(i) && i + space_run(i) == seg_end) {
          len = seg_end - i;
        } else {
          len = std::min(gpt2_match(i), seg_end - i);
        }
        break;
    }
    if (len == 0) len = 1;  // unreachable: every character belongs to some alternative
    emit(i, i + len);
    i += len;
  }
  return out;
}

/// Byte-level BPE: pre-tokenize, map each byte to GPT-2's alphabet, merge the adjacent pair with
/// the lowest merge rank (leftmost on ties) until no ranked pair is left, look up the pieces.
/// Special tokens written in the text are not recognized (text is data).
class ByteBpe {
 public:
  explicit ByteBpe(io::TokenizerData const& data)
      : tokens_(data.tokens),
        types_(data.token_types),
        unk_id_(data.unk_id),
        pre_(parse_pre_tokenizer(data.pre)) {
    std::size_t const n = tokens_.size();
    DFROT_THROW_IF(types_.size() != n, FormatError, "byte-level bpe: ", n, " tokens but ",
                   types_.size(), " token types");
    for (std::size_t i = 0; i < n; ++i) token_to_id_.emplace(tokens_[i], static_cast<int>(i));
    for (std::size_t r = 0; r < data.merges.size(); ++r) {
      std::string const& m = data.merges[r];
      std::size_t const sp = m.find(' ', 1);
      DFROT_THROW_IF(sp == std::string::npos || sp + 1 >= m.size(), FormatError,
                     "byte-level bpe: merge #", r, " '", m, "' is not 'left right'");
      merge_rank_.emplace(m, static_cast<int>(r));  // "left right" (pieces hold no ' ')
    }
    auto const& b2c = byte_to_codepoint();
    for (std::uint32_t b = 0; b < 256; ++b) {
      std::string s;
      append_utf8(s, b2c[b]);
      byte_piece_[b] = s;
      codepoint_to_byte_.emplace(b2c[b], static_cast<std::uint8_t>(b));
    }
  }

  PreTokenizer pre_tokenizer() const noexcept { return pre_; }

  std::vector<int> encode(std::string_view text) const {
    std::vector<int> out;
    std::unordered_map<std::string_view, std::vector<int>> cache;
    for (std::string_view word : pre_tokenize(text, pre_)) {
      auto it = cache.find(word);
      if (it == cache.end()) it = cache.emplace(word, encode_word(word)).first;
      out.insert(out.end(), it->second.begin(), it->second.end());
    }
    return out;
  }

  /// Bytes one token stands for (control tokens: nothing; user-defined: their text as is).
  std::string token_text(int id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size()) return {};
    int const type = types_[static_cast<std::size_t>(id)];
    std::string const& p = tokens_[static_cast<std::size_t>(id)];
    if (type == io::kTokenControl || type == io::kTokenUnused) return {};
    if (type == io::kTokenUserDefined) return p;
    std::string out;
    for (Utf8Char const& c : decode_utf8(p)) {
      auto it = codepoint_to_byte_.find(c.cp);
      if (it != codepoint_to_byte_.end()) {
        out += static_cast<char>(it->second);
      } else {
        out.append(p, c.offset, c.length);
      }
    }
    return out;
  }

  std::string decode(std::span<int const> ids) const {
    std::string out;
    for (int id : ids) out += token_text(id);
    return out;
  }

 private:
  std::vector<int> encode_word(std::string_view word) const {
    std::vector<std::string> sym;
    std::string mapped;
    for (char ch : word) {
      sym.push_back(byte_piece_[static_cast<std::uint8_t>(ch)]);
      mapped += sym.back();
    }
    std::vector<int> ids;
    if (pre_ == PreTokenizer::kLlama3) {  // ignore_merges: a whole-word piece wins
      if (auto it = token_to_id_.find(mapped); it != token_to_id_.end()) return {it->second};
    }
    merge_symbols(sym);
    for (std::string const& s : sym) {
      if (auto it = token_to_id_.find(s); it != token_to_id_.end()) {
        ids.push_back(it->second);
        continue;
      }
      // Not a piece: fall back to its single-byte pieces (or the unknown token).
      for (Utf8Char const& c : decode_utf8(s)) {
        std::string one;
        append_utf8(one, c.cp);
        if (auto it = token_to_id_.find(one); it != token_to_id_.end()) {
          ids.push_back(it->second);
        } else if (unk_id_ >= 0) {
          ids.push_back(unk_id_);
        }
      }
    }
    return ids;
  }

  /// Repeatedly merges the adjacent pair of lowest rank (leftmost on ties) in O(n log n): a heap of
  /// candidate pairs keyed by (rank, position) over a linked list of symbols; an entry is stale
  /// when either side changed since it was pushed (a long "word" would be quadratic otherwise).
  void merge_symbols(std::vector<std::string>& sym) const {
    std::size_t const n = sym.size();
    if (n < 2) return;
    constexpr std::size_t kNone = ~std::size_t{0};
    std::vector<std::size_t> prev(n), next(n);
    for (std::size_t i = 0; i < n; ++i) {
      prev[i] = i == 0 ? kNone : i - 1;
      next[i] = i + 1 == n ? kNone : i + 1;
    }
    struct Pair {
      int rank;
      std::size_t left, right, left_len, right_len;
      bool operator>(Pair const& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::priority_queue<Pair, std::vector<Pair>, std::greater<>> heap;
    std::string key;
    auto push = [&](std::size_t l, std::size_t r) {
      if (l == kNone || r == kNone) return;
      key.assign(sym[l]).append(1, ' ').append(sym[r]);
      if (auto it = merge_rank_.find(key); it != merge_rank_.end())
        heap.push({it->second, l, r, sym[l].size(), sym[r].size()});
    };
    for (std::size_t i = 0; i + 1 < n; ++i) push(i, i + 1);
    while (!heap.empty()) {
      Pair const p = heap.top();
      heap.pop();
      if (next[p.left] != p.right || sym[p.left].size() != p.left_len ||
          sym[p.right].size() != p.right_len || sym[p.right].empty())
        continue;  // stale: one side was merged since
      sym[p.left] += sym[p.right];
      sym[p.right].clear();
      next[p.left] = next[p.right];
      if (next[p.right] != kNone) prev[next[p.right]] = p.left;
      push(prev[p.left], p.left);
      push(p.left, next[p.left]);
    }
    std::size_t out = 0;
    for (std::size_t i = 0; i != kNone; i = next[i], ++out) {
      if (out != i) sym[out] = std::move(sym[i]);
    }
    sym.resize(out);
  }

  std::vector<std::string> tokens_;
  std::vector<int> types_;
  int unk_id_ = -1;
  PreTokenizer pre_;
  std::unordered_map<std::string, int> token_to_id_;
  std::unordered_map<std::string, int> merge_rank_;
  std::array<std::string, 256> byte_piece_;
  std::unordered_map<std::uint32_t, std::uint8_t> codepoint_to_byte_;
};

}  // namespace dfrot::tokenizer

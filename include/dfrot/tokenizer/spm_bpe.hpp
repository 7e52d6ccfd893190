// SPDX-License-Identifier: Apache-2.0
// SpmBpe: SentencePiece-style BPE (merge by piece score, byte fallback to <0xXX>, dummy-prefix
// space), as used by LLaMA-1/2, llama2.c's tokenizer.bin and llama.cpp's "llama" vocabularies.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/tokenizer/unicode.hpp"

namespace dfrot::tokenizer {

/// SentencePiece BPE. encode(): (1) prepend " " when add_space_prefix and the text is not empty,
/// (2) replace every ' ' with U+2581, (3) start from one symbol per UTF-8 character, (4) merge the
/// adjacent pair whose concatenation is a vocabulary piece with the highest score (leftmost on
/// ties) until none is left, (5) emit each symbol's id, or the <0xXX> byte tokens of its bytes when
/// it is not a piece (the unknown token when those are missing too).
class SpmBpe {
 public:
  explicit SpmBpe(io::TokenizerData const& data)
      : tokens_(data.tokens),
        types_(data.token_types),
        unk_id_(data.unk_id),
        add_space_prefix_(data.add_space_prefix) {
    std::size_t const n = tokens_.size();
    DFROT_THROW_IF(types_.size() != n || (!data.scores.empty() && data.scores.size() != n),
                   FormatError, "spm tokenizer: ", n, " tokens but ", types_.size(), " types and ",
                   data.scores.size(), " scores");
    scores_ = data.scores.empty() ? std::vector<float>(n, 0.0f) : data.scores;
    byte_ids_.fill(-1);
    for (std::size_t i = 0; i < n; ++i) {
      int const id = static_cast<int>(i);
      std::string const& p = tokens_[i];
      if (types_[i] == io::kTokenByte ||
          (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>')) {
        int const hi = hex_value(p.size() == 6 ? p[3] : 'x');
        int const lo = hex_value(p.size() == 6 ? p[4] : 'x');
        if (hi >= 0 && lo >= 0) {
          if (byte_ids_[static_cast<std::size_t>(hi * 16 + lo)] < 0) {
            byte_ids_[static_cast<std::size_t>(hi * 16 + lo)] = id;
          }
          byte_value_.emplace(id, static_cast<char>(hi * 16 + lo));
          continue;
        }
      }
      // Control/unused pieces (<s>, </s>, <unk>) cannot be produced from text.
      if (types_[i] == io::kTokenControl || types_[i] == io::kTokenUnknown ||
          types_[i] == io::kTokenUnused) {
        continue;
      }
      piece_to_id_.emplace(p, id);  // first occurrence wins
    }
  }

  /// Token ids of `text` (no BOS).
  std::vector<int> encode(std::string_view text) const {
    std::vector<int> out;
    if (text.empty()) return out;
    std::string s;
    s.reserve(text.size() + 16);
    if (add_space_prefix_) s += kSpace;
    for (char ch : text) {
      if (ch == ' ') {
        s += kSpace;
      } else {
        s += ch;
      }
    }
    // Symbols: one per UTF-8 character, as a doubly linked list over byte ranges of `s`.
    struct Symbol {
      std::size_t start, len;
      int prev, next;
    };
    std::vector<Symbol> sym;
    for (std::size_t pos = 0; pos < s.size();) {
      std::size_t len = utf8_sequence_length(s, pos);
      if (len == 0) len = 1;  // a malformed byte is a symbol of its own (byte fallback)
      int const idx = static_cast<int>(sym.size());
      sym.push_back({pos, len, idx - 1, idx + 1});
      pos += len;
    }
    sym.back().next = -1;

    struct Bigram {
      float score;
      int left, right;
      std::size_t len;
    };
    auto worse = [](Bigram const& a, Bigram const& b) {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
    auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      std::size_t const len = sym[left].len + sym[right].len;
      auto it = piece_to_id_.find(std::string_view(s).substr(sym[left].start, len));
      if (it == piece_to_id_.end()) return;
      queue.push({scores_[static_cast<std::size_t>(it->second)], left, right, len});
    };
    for (std::size_t i = 1; i < sym.size(); ++i)
      try_add(static_cast<int>(i) - 1, static_cast<int>(i));
    while (!queue.empty()) {
      Bigram const b = queue.top();
      queue.pop();
      Symbol& l = sym[b.left];
      Symbol& r = sym[b.right];
      if (l.len == 0 || r.len == 0 || l.len + r.len != b.len || l.next != b.right)
        continue;  // stale
      l.len += r.len;
      r.len = 0;
      l.next = r.next;
      if (r.next >= 0) sym[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int i = 0; i >= 0; i = sym[i].next) {
      std::string_view const piece = std::string_view(s).substr(sym[i].start, sym[i].len);
      auto it = piece_to_id_.find(piece);
      if (it != piece_to_id_.end()) {
        out.push_back(it->second);
        continue;
      }
      for (char ch : piece) {
        int const id = byte_ids_[static_cast<std::uint8_t>(ch)];
        if (id >= 0) {
          out.push_back(id);
        } else if (unk_id_ >= 0) {
          out.push_back(unk_id_);
        }
      }
    }
    return out;
  }

  /// The bytes one token stands for: byte tokens give their byte, control/unknown/unused tokens
  /// nothing, other pieces their text with U+2581 turned back into ' '.
  std::string token_text(int id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size()) return {};
    if (auto it = byte_value_.find(id); it != byte_value_.end()) return std::string(1, it->second);
    int const type = types_[static_cast<std::size_t>(id)];
    if (type == io::kTokenControl || type == io::kTokenUnknown || type == io::kTokenUnused)
      return {};
    std::string out;
    std::string_view p = tokens_[static_cast<std::size_t>(id)];
    for (std::size_t i = 0; i < p.size();) {
      if (p.substr(i, 3) == kSpace) {
        out += ' ';
        i += 3;
      } else {
        out += p[i++];
      }
    }
    return out;
  }

  /// Concatenated token_text(); drops the dummy-prefix space of the first piece when
  /// add_space_prefix is set, so decode(encode(s)) == s.
  std::string decode(std::span<int const> ids) const {
    std::string out;
    bool first = true;
    for (int id : ids) {
      std::string t = token_text(id);
      if (t.empty()) continue;
      if (first && add_space_prefix_ && t.front() == ' ') t.erase(0, 1);
      first = false;
      out += t;
    }
    return out;
  }

 private:
  static constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

  static int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  std::vector<std::string> tokens_;
  std::vector<int> types_;
  std::vector<float> scores_;
  int unk_id_ = -1;
  bool add_space_prefix_ = true;
  std::unordered_map<std::string, int, StringHash, std::equal_to<>> piece_to_id_;
  std::array<int, 256> byte_ids_{};
  std::unordered_map<int, char> byte_value_;
};

}  // namespace dfrot::tokenizer

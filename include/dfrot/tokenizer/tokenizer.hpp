// SPDX-License-Identifier: Apache-2.0
// Tokenizer: text <-> token ids for a model's vocabulary (SentencePiece BPE or byte-level BPE),
// built from io::TokenizerData.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/tokenizer/byte_bpe.hpp"
#include "dfrot/tokenizer/spm_bpe.hpp"

namespace dfrot::tokenizer {

/// Encodes and decodes text with a model's vocabulary. Text is data: special tokens written in
/// it ("<s>", "<|im_start|>") are not recognized (llama.cpp's parse_special = false).
class Tokenizer {
 public:
  /// \throws FormatError when the data is inconsistent or uses an unsupported pre-tokenizer.
  explicit Tokenizer(io::TokenizerData data) : data_(std::move(data)) {
    DFROT_THROW_IF(data_.tokens.empty(), FormatError, "tokenizer: empty vocabulary");
    if (data_.token_types.empty()) data_.token_types.assign(data_.tokens.size(), io::kTokenNormal);
    if (data_.kind == io::TokenizerData::Kind::kSentencePieceBpe) {
      impl_.emplace<SpmBpe>(data_);
    } else {
      impl_.emplace<ByteBpe>(data_);
    }
  }

  /// Token ids of `text`, preceded by bos_id() when `add_bos` (and the vocabulary has one).
  std::vector<int> encode(std::string_view text, bool add_bos) const {
    std::vector<int> ids;
    if (add_bos && data_.bos_id >= 0) ids.push_back(data_.bos_id);
    std::vector<int> body = std::visit(
        [&](auto const& t) -> std::vector<int> {
          if constexpr (std::is_same_v<std::decay_t<decltype(t)>, std::monostate>) {
            return {};
          } else {
            return t.encode(text);
          }
        },
        impl_);
    ids.insert(ids.end(), body.begin(), body.end());
    return ids;
  }

  /// Text of a sequence of ids (control tokens such as BOS/EOS produce nothing; for SentencePiece
  /// vocabularies the dummy-prefix space of the first piece is removed).
  /// \throws UsageError for an id outside the vocabulary.
  std::string decode(std::span<int const> ids) const {
    for (int id : ids) check_id(id);
    return std::visit(
        [&](auto const& t) -> std::string {
          if constexpr (std::is_same_v<std::decay_t<decltype(t)>, std::monostate>) {
            return {};
          } else {
            return t.decode(ids);
          }
        },
        impl_);
  }
  std::string decode(std::vector<int> const& ids) const {
    return decode(std::span<int const>(ids));
  }

  /// The vocabulary string of `id` as stored (U+2581 / GPT-2 alphabet, "<0x0A>", "<s>").
  std::string const& token_piece(int id) const {
    check_id(id);
    return data_.tokens[static_cast<std::size_t>(id)];
  }
  /// The bytes `id` decodes to on its own (no dummy-prefix removal).
  std::string token_text(int id) const {
    check_id(id);
    return std::visit(
        [&](auto const& t) -> std::string {
          if constexpr (std::is_same_v<std::decay_t<decltype(t)>, std::monostate>) {
            return {};
          } else {
            return t.token_text(id);
          }
        },
        impl_);
  }

  int bos_id() const noexcept { return data_.bos_id; }
  int eos_id() const noexcept { return data_.eos_id; }
  int unk_id() const noexcept { return data_.unk_id; }
  /// Whether the model expects BOS at the start (GGUF tokenizer.ggml.add_bos_token).
  bool add_bos() const noexcept { return data_.add_bos; }
  std::size_t n_vocab() const noexcept { return data_.tokens.size(); }
  io::TokenizerData const& data() const noexcept { return data_; }

 private:
  void check_id(int id) const {
    DFROT_THROW_IF(id < 0 || static_cast<std::size_t>(id) >= data_.tokens.size(), UsageError,
                   "tokenizer: token id ", id, " is outside the vocabulary of ",
                   data_.tokens.size());
  }

  io::TokenizerData data_;
  std::variant<std::monostate, SpmBpe, ByteBpe> impl_;
};

}  // namespace dfrot::tokenizer

// SPDX-License-Identifier: Apache-2.0
/// \file
/// Module tokenizer: text <-> token ids. Tokenizer (tokenizer.hpp) wraps SentencePiece-style BPE
/// with scores and byte fallback (spm_bpe.hpp; LLaMA-2, llama2.c tokenizer.bin, GGUF "llama"
/// vocabularies) and byte-level BPE with GPT-2 / LLaMA-3 / SmolLM pre-tokenizers (byte_bpe.hpp;
/// GGUF "gpt2" vocabularies). Build one from io::LlamaCheckpoint::tokenizer.
#pragma once

#include "dfrot/tokenizer/byte_bpe.hpp"
#include "dfrot/tokenizer/spm_bpe.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"
#include "dfrot/tokenizer/unicode.hpp"
#include "dfrot/tokenizer/unicode_tables.hpp"

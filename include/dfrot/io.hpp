// SPDX-License-Identifier: Apache-2.0
/// \file
/// Module io: model files in, one canonical LLaMA checkpoint out. load_llama_checkpoint()
/// (llama_checkpoint.hpp) auto-detects GGUF v2/v3 (gguf.hpp; F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q4_K/
/// Q6_K dequantized by gguf_dequant.hpp), llama2.c v0/v1/v2 checkpoints and tokenizer.bin
/// (llama2c.hpp) and Hugging Face config.json + safetensors directories (safetensors.hpp;
/// tokenizer.json + tokenizer_config.json via hf_tokenizer.hpp). Every read goes through
/// ByteReader (byte_reader.hpp) over a MappedFile (mapped_file.hpp); malformed input throws
/// FormatError / IoError naming the file, the field or tensor and the problem. npy.hpp reads and
/// writes NumPy .npy arrays (learned rotations: DFRot R1, per-layer R2 stacks).
#pragma once

#include "dfrot/io/atomic_file.hpp"
#include "dfrot/io/byte_reader.hpp"
#include "dfrot/io/file_read.hpp"
#include "dfrot/io/gguf.hpp"
#include "dfrot/io/gguf_dequant.hpp"
#include "dfrot/io/gguf_writer.hpp"
#include "dfrot/io/hf_tokenizer.hpp"
#include "dfrot/io/llama2c.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/io/llama_gguf_keys.hpp"
#include "dfrot/io/mapped_file.hpp"
#include "dfrot/io/npy.hpp"
#include "dfrot/io/safetensors.hpp"
#include "dfrot/io/tensor.hpp"

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Seed corpora and dictionaries of the libFuzzer targets (fuzz/), generated, never committed.

Usage: fuzz_seeds.py OUT_DIR [SHARED_DIR]
Writes OUT_DIR/<target>/seed_* (small valid files of each format, written here from scratch, plus
the ../shared fixtures where they are small) and OUT_DIR/<target>.dict (the formats' magics and
keys). Targets whose seeds need the dfrot tool (fuzz_int4_model) get them from scripts/fuzz.sh.
"""
import json
import os
import struct
import sys

out = sys.argv[1]
shared = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "shared")


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def dictionary(target, words):
    with open(os.path.join(out, target + ".dict"), "w") as f:
        for w in words:
            f.write('"' + "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c) for c in w) + '"\n')


def copy_shared(target, rel, name, limit=2 << 20):
    p = os.path.join(shared, rel)
    if os.path.isfile(p) and os.path.getsize(p) <= limit:
        with open(p, "rb") as f:
            put(target, name, f.read())


# ---- GGUF ------------------------------------------------------------------------------------
def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(kv, tensors, align=32):
    """kv: list of (key, type_id, payload bytes); tensors: list of (name, dims (ggml order), type, data)."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, t, payload in kv:
        head += gguf_string(k) + struct.pack("<I", t) + payload
    offset = 0
    for name, dims, ttype, data in tensors:
        head += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", ttype, offset)
        offset += (len(data) + align - 1) // align * align
    head += b"\0" * (-len(head) % align)
    body = b""
    for _, _, _, data in tensors:
        body += data + b"\0" * (-len(data) % align)
    return head + body


def u32(v):
    return struct.pack("<I", v)


def f32(v):
    return struct.pack("<f", v)


def s(v):
    return gguf_string(v)


def arr(elem_type, items):
    return struct.pack("<IQ", elem_type, len(items)) + b"".join(items)


d, ff, vocab, layers, heads = 8, 16, 6, 1, 2
llama_kv = [
    ("general.architecture", 8, s("llama")),
    ("llama.embedding_length", 4, u32(d)),
    ("llama.block_count", 4, u32(layers)),
    ("llama.feed_forward_length", 4, u32(ff)),
    ("llama.attention.head_count", 4, u32(heads)),
    ("llama.attention.head_count_kv", 4, u32(1)),
    ("llama.context_length", 4, u32(32)),
    ("llama.rope.freq_base", 6, f32(10000.0)),
    ("llama.attention.layer_norm_rms_epsilon", 6, f32(1e-5)),
    ("tokenizer.ggml.model", 8, s("llama")),
    ("tokenizer.ggml.tokens", 9, arr(8, [s(t) for t in ["<unk>", "<s>", "</s>", "\u2581a", "b", "\u2581ab"]])),
    ("tokenizer.ggml.scores", 9, arr(6, [f32(-i) for i in range(vocab)])),
    ("tokenizer.ggml.token_type", 9, arr(5, [struct.pack("<i", t) for t in [2, 3, 3, 1, 1, 1]])),
]


def f32s(n, scale=0.01):
    return b"".join(f32(scale * ((i * 7919) % 13 - 6)) for i in range(n))


hd = d // heads
tensors = [("token_embd.weight", [d, vocab], 0, f32s(d * vocab)), ("output_norm.weight", [d], 0, f32s(d, 1.0))]
for l in range(layers):
    p = "blk.%d." % l
    tensors += [
        (p + "attn_norm.weight", [d], 0, f32s(d, 1.0)), (p + "ffn_norm.weight", [d], 0, f32s(d, 1.0)),
        (p + "attn_q.weight", [d, d], 0, f32s(d * d)), (p + "attn_k.weight", [d, hd], 0, f32s(d * hd)),
        (p + "attn_v.weight", [d, hd], 0, f32s(d * hd)), (p + "attn_output.weight", [d, d], 0, f32s(d * d)),
        (p + "ffn_gate.weight", [d, ff], 0, f32s(d * ff)), (p + "ffn_up.weight", [d, ff], 0, f32s(d * ff)),
        (p + "ffn_down.weight", [ff, d], 0, f32s(d * ff)),
    ]
put("fuzz_gguf", "seed_tiny_llama.gguf", gguf(llama_kv, tensors))
# One tensor per dequantized type: F16, Q8_0 (34-byte blocks of 32), Q4_0 (18), Q4_1 (20).
put("fuzz_gguf", "seed_types.gguf", gguf([("general.architecture", 8, s("llama"))], [
    ("f16", [32], 1, b"\x00\x3c" * 32), ("q8_0", [32], 8, b"\x00\x3c" + bytes(range(32))),
    ("q4_0", [32], 2, b"\x00\x3c" + bytes(range(16))), ("q4_1", [32], 3, b"\x00\x3c\x00\x00" + bytes(range(16)))]))
copy_shared("fuzz_gguf", "fixtures/stories260K-f32.gguf", "seed_stories260K.gguf")
gguf_words = ["GGUF", "general.architecture", "general.alignment", "llama", "llama.embedding_length",
              "llama.block_count", "llama.feed_forward_length", "llama.attention.head_count",
              "llama.attention.head_count_kv", "llama.context_length", "llama.rope.freq_base",
              "llama.vocab_size", "tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores",
              "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.pre",
              "token_embd.weight", "output.weight", "blk.0.attn_q.weight", "rope_freqs.weight"]
dictionary("fuzz_gguf", gguf_words)

# ---- int4 model file: seeds come from `dfrot quantize` (scripts/fuzz.sh); keys for the dictionary.
dictionary("fuzz_int4_model", gguf_words + [
    "dfrot.format_version", "dfrot.dense_type", "f16", "q8", "f32", "dfrot.weight.layout", "panel16x8",
    "dfrot.skew_plan", "dfrot.act.bits", "dfrot.k.bits", "dfrot.v.bits", "dfrot.weight.bits",
    "dfrot.online.down_proj", "dfrot.online.o_proj", "dfrot.online.qk", "blk.0.attn_q.codes",
    "blk.0.attn_q.scales", "blk.0.attn_q.row_sums", "output.transform", "token_embd.codes"])

# ---- safetensors -----------------------------------------------------------------------------
def safetensors(entries):
    header, body = {}, b""
    for name, dtype, shape, data in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(body), len(body) + len(data)]}
        body += data
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


put("fuzz_safetensors", "seed.safetensors", safetensors([
    ("model.embed_tokens.weight", "F32", [2, 4], f32s(8)), ("w16", "F16", [4], b"\x00\x3c" * 4),
    ("wb16", "BF16", [2, 2], b"\x80\x3f" * 4)]))
dictionary("fuzz_safetensors", ["dtype", "shape", "data_offsets", "__metadata__", "F32", "F16", "BF16",
                                "I64", "model.embed_tokens.weight"])

# ---- HF JSON (first byte: odd = config.json, even = tokenizer.json) ----------------------------
config = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
          "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 32,
          "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 128,
          "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": [2, 3],
          "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                           "high_freq_factor": 4.0, "original_max_position_embeddings": 64}}
put("fuzz_hf_json", "seed_config.json", "\x01" + json.dumps(config))
vocab_items = {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4, "\u0120": 5, "\u0120a": 6, "<|endoftext|>": 7}
tok = {"version": "1.0", "added_tokens": [{"id": 7, "content": "<|endoftext|>", "special": True}],
       "normalizer": None,
       "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
           {"type": "Digits", "individual_digits": True},
           {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
       "post_processor": None, "decoder": {"type": "ByteLevel"},
       "model": {"type": "BPE", "vocab": vocab_items, "merges": ["a b", "ab c", "\u0120 a"],
                 "byte_fallback": False}}
put("fuzz_hf_json", "seed_tokenizer_bytelevel.json", "\x00" + json.dumps(tok))
spm = {"model": {"type": "BPE", "byte_fallback": True, "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2,
       "<0x41>": 3, "\u2581": 4, "a": 5, "\u2581a": 6}, "merges": ["\u2581 a"]},
       "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                         {"type": "Replace", "pattern": {"String": " "},
                                                          "content": "\u2581"}]},
       "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]}}
put("fuzz_hf_json", "seed_tokenizer_spm.json", "\x02" + json.dumps(spm))
dictionary("fuzz_hf_json", ["hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads",
                            "num_hidden_layers", "vocab_size", "rope_scaling", "rope_type", "llama3", "linear",
                            "Sequence", "ByteLevel", "Metaspace", "Digits", "Split", "Prepend", "Replace",
                            "BPE", "vocab", "merges", "added_tokens", "byte_fallback", "pre_tokenizer",
                            "normalizer", "decoder", "model", "type", "[", "{", "\"", "\\u2581"])

# ---- llama2.c (first byte: even = checkpoint, odd = tokenizer.bin) ----------------------------
dim, hidden, nl, nh, nkv, v, seq = 8, 16, 1, 2, 1, 6, 16
hdim = dim // nh
n = v * dim + nl * dim + nl * dim * dim + 2 * nl * dim * nkv * hdim + nl * dim * dim + nl * dim + 3 * nl * dim * hidden + dim
put("fuzz_llama2c", "seed_checkpoint.bin", b"\x00" + struct.pack("<7i", dim, hidden, nl, nh, nkv, v, seq) + f32s(n))
p = os.path.join(shared, "models/stories260K/stories260K.bin")
if os.path.isfile(p):
    with open(p, "rb") as f:
        put("fuzz_llama2c", "seed_stories260K.bin", b"\x00" + f.read())
tokbin = struct.pack("<i", 8) + b"".join(struct.pack("<fi", -i, len(t)) + t for i, t in
                                          enumerate([b"<unk>", b"<s>", b"</s>", b" a", b"b", b"ab"]))
put("fuzz_llama2c", "seed_tokenizer.bin", b"\x01" + tokbin)
p = os.path.join(shared, "models/stories260K/tok512.bin")
if os.path.isfile(p):
    with open(p, "rb") as f:
        put("fuzz_llama2c", "seed_tok512.bin", b"\x01" + f.read())
dictionary("fuzz_llama2c", ["ak42", "\x02\x00\x00\x00", "\x01\x00\x00\x00", "<0x0A>"])

# ---- .npy ------------------------------------------------------------------------------------
def npy(shape, values, descr="<f8"):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d, " % x for x in shape) if len(shape) != 1 else "%d," % shape[0])
    header += " " * (-(len(header) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"".join(
        struct.pack("<d", x) for x in values)


put("fuzz_npy", "seed_matrix.npy", npy([2, 2], [1, 0, 0, 1]))
put("fuzz_npy", "seed_stack.npy", npy([2, 2, 2], [1, 0, 0, 1, 0, 1, 1, 0]))
dictionary("fuzz_npy", ["\x93NUMPY", "descr", "fortran_order", "shape", "<f8", "<f4", "True", "False", "(", ")"])

# ---- tokenizer encode: arbitrary bytes --------------------------------------------------------
for i, text in enumerate(["hello the world", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                          "caf\u00e9 \U0001F600 123456\n\t  x", "\xff\xfe\x80 invalid utf-8"]):
    put("fuzz_tokenizer_encode", "seed_%d.txt" % i, text.encode("utf-8", "surrogatepass") if i != 3 else
        b"\xff\xfe\x80 invalid utf-8")

# ---- zero-shot task files (JSONL) -------------------------------------------------------------
put("fuzz_zeroshot_jsonl", "seed_mc.jsonl",
    json.dumps({"query": "Question: q?\n", "choices": ["a b", "c\u00e9"], "gold": 1}) + "\n" +
    json.dumps({"query": "Question: r", "choices": ["x", "y", "z", "w"], "gold": 3}) + "\n")
put("fuzz_zeroshot_jsonl", "seed_wg.jsonl",
    json.dumps({"context_options": ["A so A", "A so B"], "continuation": "won.", "gold": 0}) + "\r\n\n")
put("fuzz_zeroshot_jsonl", "seed_lambada.jsonl",
    json.dumps({"context": "the end of the", "continuation": "story"}) + "\n")
dictionary("fuzz_zeroshot_jsonl", ["query", "choices", "gold", "context", "continuation",
                                   "context_options", "\n", "\r\n", "{", "}", "[", "]", "null", "-1"])
print(out)

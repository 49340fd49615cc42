#!/usr/bin/env python3
"""Generates tests/testdata/tokenizer/smollm2_goldens.json: llama.cpp's tokenization of tricky
strings with the default model's vocabulary (SmolLM2-135M-Instruct, byte-level BPE, pre-tokenizer
"smollm"), for engine/tokenizer/tokenizer_golden_test.cc.

    "$LMUL_REF_VENV"/bin/python scripts/make_tokenizer_goldens.py --model "$(scripts/fetch_model.sh)"

Reference: llama-cpp-python (llama.cpp built from source), Llama(model, vocab_only=True):
tokenize(text, add_bos=False, special=parse_special) and detokenize(ids, special=True).
Also 150 random strings (fixed seed) of tricky pieces, and, for the other pre-tokenizers lmul
implements (gpt-2, llama-bpe), the ids llama.cpp gives every case with the same vocabulary and
tokenizer.ggml.pre changed (a metadata-only copy of the GGUF in a temporary directory).
Texts are stored as hex of their bytes (some cases are invalid UTF-8) plus a readable copy.
WikiText-2 (test, raw) is read at generation time from --data-dir (never copied): the first
2000 characters as a normal case, and the whole file as a token count plus sha256 of the ids
(int32 little endian) and of each block of 4096 ids.
Needs the venv (not available in CI); the output is committed.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "testdata", "tokenizer", "smollm2_goldens.json")
BLOCK = 4096

S = True   # parse_special
N = False

CASES = [
    # name, text (str or bytes), parse_special
    ("empty", "", N),
    ("hello", "Hello world", N),
    ("leading_space", " Hello", N),
    ("leading_spaces", "   three leading spaces", N),
    ("trailing_space", "trailing space ", N),
    ("trailing_spaces", "trailing spaces    ", N),
    ("only_spaces", "     ", N),
    ("space_runs", "a  b   c    d     e", N),
    ("tabs_newlines", "\t\ttabs\tand\nnewlines\n\n\nend\n", N),
    ("crlf", "line one\r\nline two\r\n\r\n  indented\r\n", N),
    ("blank_lines", "para one\n\n \n\t\npara two", N),
    ("space_newline_mix", "a \n b\n  c  \n", N),
    ("digits_1", "7", N),
    ("digits_2", "42", N),
    ("digits_3", "123", N),
    ("digits_10", "1234567890", N),
    ("digits_long", "314159265358979323846264338327950288419716939937510", N),
    ("decimals", "pi is 3.14159 and e is 2.71828; -0.5e-10", N),
    ("numbers_in_text", "In 2024, 10,000 people paid $1,234.56 for 3 items (x=42;y=-7).", N),
    ("space_digit", "a 1 b 22 c 333", N),
    ("arabic_indic_digits", "٣٤٥ and ۱۲۳", N),
    ("other_numbers", "①②③ Ⅻ ½ ¾ ² ³ ⁴", N),
    ("fullwidth_digits", "１２３４ｆｕｌｌ", N),
    ("contractions", "I'm sure you're right, it's what we'd've done. They'll go; won't they? Don't!", N),
    ("contractions_bare", "'s 't 're 've 'm 'll 'd 'x", N),
    ("contractions_upper", "I'M SHOUTING, DON'T YOU'LL", N),
    ("apostrophes", "rock'n'roll ''quoted'' '' ' '", N),
    ("curly_apostrophe", "it’s don’t “quoted”", N),
    ("punctuation", "Hello, world! How are you? (fine) [ok] {yes} <no> \"q\" — – … ¿¡", N),
    ("punct_runs", "a.b.c...!!!???---___***", N),
    ("code_ops", "C++ && || -> => :: != <= >= ** // %= <<= >>=", N),
    ("code_c", "#include <stdio.h>\nint main(void) {\n\treturn 0;\n}\n", N),
    ("code_python", "def f(x):\n    if x > 0:\n        return x * 2  # double\n    return None\n", N),
    ("url", "https://example.com/path/to?q=1&r=two#frag", N),
    ("email", "first.last+tag@example.co.uk", N),
    ("currency", "$100 €50 £20 ¥1000 ₹500 ₿0.1", N),
    ("latin_accents", "Grüße aus München! Ça va? Niño, señor. Øre, Åse, Æble.", N),
    ("cyrillic", "Привет, мир! Как дела?", N),
    ("greek", "Γειά σου Κόσμε", N),
    ("hebrew", "שלום עולם", N),
    ("arabic", "مرحبا بالعالم", N),
    ("devanagari", "नमस्ते दुनिया", N),
    ("chinese", "你好，世界！今天天气很好。", N),
    ("japanese", "こんにちは世界、カタカナとひらがな", N),
    ("korean", "안녕하세요 세계", N),
    ("thai", "ภาษาไทยง่ายนิดเดียว", N),
    ("vietnamese", "Tiếng Việt có dấu", N),
    ("combining_acute", "e\u0301 vs \u00e9", N),
    ("combining_stack", "a\u0300\u0301\u0302\u0303 stacked", N),
    ("zalgo", "Z\u0351\u0352a\u0353l\u0354g\u0355o\u0356", N),
    ("combining_after_space", "x \u0301y", N),
    ("emoji", "😀😃😄", N),
    ("emoji_skin_tone", "👍🏽 thumbs up", N),
    ("emoji_zwj_family", "👨‍👩‍👧‍👦 family", N),
    ("emoji_rainbow_flag", "🏳️‍🌈 flag", N),
    ("emoji_regional_flags", "🇫🇷🇩🇪🇯🇵", N),
    ("emoji_vs16", "❤️ vs ❤", N),
    ("emoji_in_text", "party 🎉 time 🎉🎉 done", N),
    ("nbsp", "\u00a0nbsp\u00a0here", N),
    ("zero_width", "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom", N),
    ("ideographic_space", "\u3000ideographic\u3000space", N),
    ("soft_hyphen", "soft\u00adhyphen", N),
    ("controls", "\x00 nul \x01 soh \x1b[0m \x7f del", N),
    ("line_separators", "\u2028line sep\u2029para sep\u0085nel", N),
    ("unicode_spaces", "a\u2002b\u2003c\u2009d\u202fe\u205ff", N),
    ("private_use_and_unassigned", "\ue000 \U000f0000 \u0378", N),
    ("astral", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚 𐍈", N),
    ("replacement_char", "\ufffd literal", N),
    ("long_word", "supercalifragilisticexpialidocious antidisestablishmentarianism", N),
    ("long_run_a", "a" * 300, N),
    ("long_run_eq", "=" * 100 + "\n" + "-" * 80, N),
    ("long_spaces", " " * 64 + "x", N),
    ("invalid_ff", b"abc\xffdef", N),
    ("invalid_c3_28", b"\xc3\x28 bad pair", N),
    ("invalid_truncated", b"trunc\xe2\x82", N),
    ("invalid_stray_cont", b"\x80\x80 stray", N),
    ("invalid_surrogate", b"\xed\xa0\x80 surrogate", N),
    ("invalid_overlong", b"\xc0\xaf overlong", N),
    ("special_chat", "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n", S),
    ("special_endoftext", "<|endoftext|>", S),
    ("special_inside_text", "text<|im_end|>text", S),
    ("special_adjacent", "<|im_start|><|im_end|><|endoftext|>", S),
    ("special_repo", "<repo_name>lmul<file_sep>main.cc<filename>x", S),
    ("special_spaces_around", "  <|im_start|>  spaces  <|im_end|>  ", S),
    ("special_broken", "< |im_start| > <|im_start| <|im_end", S),
    ("special_digits_next", "<|im_start|>123<|im_end|>4", S),
    ("special_not_parsed", "<|im_start|>user\nHi<|im_end|>", N),
    ("special_empty_text_parsed", "", S),
]

# Random strings (fixed seed) built from pieces that stress the pre-tokenizer's boundaries.
PIECES = ["a", "Z", "the", " the", "The", "é", "e\u0301", "ß", "Ω", "ж", "ש", "ع", "न", "ि",
          "你", "の", "한", "ก", "1", "23", "٣", "½", "Ⅻ", " ", "  ", "\t", "\n", "\r\n", "\u00a0",
          "\u3000", "\u2028", "'", "'s", "'re", "'LL", "’", ".", ",", "!?", "...", "-", "(", ")",
          "\"", "#", "$", "_", "=", "😀", "👍🏽", "‍", "🇫🇷", "️", "\u200b", "\x00", "\x1b",
          "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im", "|>"]
N_RANDOM = 150


def random_cases():
    import random
    rng = random.Random(1234)
    out = []
    for i in range(N_RANDOM):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 24)))
        out.append((f"random_{i:03d}", text, i % 2 == 0))
    return out


# Other pre-tokenizers lmul implements: the same vocabulary with tokenizer.ggml.pre changed,
# written (metadata only, no tensors) to a temporary GGUF that llama.cpp loads with vocab_only.
VARIANT_PRES = ["gpt-2", "llama-bpe"]


def make_variant(src, pre, dst):
    from gguf import GGUFReader, GGUFWriter, GGUFValueType
    r = GGUFReader(src)
    w = GGUFWriter(dst, r.fields["general.architecture"].contents())
    for k, f in r.fields.items():
        if k.startswith("GGUF.") or k == "general.architecture":
            continue
        v = pre if k == "tokenizer.ggml.pre" else f.contents()
        t = f.types[0]
        w.add_key_value(k, v, t, sub_type=f.types[1] if t == GGUFValueType.ARRAY else None)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


CHAT_MESSAGES = ["What is the capital of France?", "Write 3 haiku about the sea.\nBe brief."]


def sha256_ids(ids):
    return hashlib.sha256(struct.pack("<%di" % len(ids), *ids)).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data-dir", default=os.environ.get("LMUL_DATA", "../shared/data"))
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()

    import llama_cpp
    from llama_cpp import Llama
    import jinja2

    with open(args.model, "rb") as f:
        model_sha = hashlib.sha256(f.read()).hexdigest()
    llm = Llama(model_path=args.model, vocab_only=True, verbose=False)

    def tok(data, special):
        return llm.tokenize(data, add_bos=False, special=special)

    def detok(ids):
        # llama_token_to_piece(special=True) per token with a large enough buffer
        # (llama-cpp-python's own detokenize truncates pieces to 32 bytes).
        import ctypes
        out = b""
        for t in ids:
            size = 256
            while True:
                buf = ctypes.create_string_buffer(size)
                n = llama_cpp.llama_token_to_piece(llm._model.vocab, t, buf, size, 0, True)
                if n >= 0:
                    out += buf.raw[:n]
                    break
                size = -n
        return out

    wiki_path = os.path.join(args.data_dir, "wikitext-2-raw", "wiki.test.raw")
    with open(wiki_path, "rb") as f:
        wiki = f.read()
    wiki_text = wiki.decode("utf-8")
    cases = list(CASES)
    cases.append(("wikitext_2000", wiki_text[:2000], N))
    cases += random_cases()

    out_cases = []
    for name, text, special in cases:
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        ids = tok(data, special)
        out_cases.append({
            "name": name,
            "text": data.decode("utf-8", errors="replace"),
            "text_hex": data.hex(),
            "parse_special": special,
            "ids": ids,
            "decoded_hex": detok(ids).hex(),
        })

    # Chat template: the GGUF's tokenizer.chat_template rendered by jinja2.
    template = llm.metadata["tokenizer.chat_template"]
    env = jinja2.Environment()
    chats = []
    for msg in CHAT_MESSAGES:
        rendered = env.from_string(template).render(
            messages=[{"role": "user", "content": msg}], add_generation_prompt=True)
        chats.append({"user_message": msg, "rendered": rendered,
                      "ids": tok(rendered.encode("utf-8"), True)})

    import tempfile
    variants = []
    with tempfile.TemporaryDirectory() as tmp:
        for pre in VARIANT_PRES:
            path = os.path.join(tmp, f"vocab_{pre}.gguf")
            make_variant(args.model, pre, path)
            vl = Llama(model_path=path, vocab_only=True, verbose=False)
            assert vl.metadata["tokenizer.ggml.pre"] == pre
            ids = {}
            for name, text, special in cases:
                data = text if isinstance(text, bytes) else text.encode("utf-8")
                ids[name] = vl.tokenize(data, add_bos=False, special=special)
            variants.append({"pre": pre, "ids": ids})
            del vl

    t0 = time.perf_counter()
    wiki_ids = tok(wiki, False)
    t_wiki = time.perf_counter() - t0
    blocks = [sha256_ids(wiki_ids[i:i + BLOCK]) for i in range(0, len(wiki_ids), BLOCK)]

    doc = {
        "provenance": {
            "script": "scripts/make_tokenizer_goldens.py",
            "command": "\"$LMUL_REF_VENV\"/bin/python scripts/make_tokenizer_goldens.py --model "
                       "\"$(scripts/fetch_model.sh)\"",
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "python": platform.python_version(),
            "llama_cpp_python": llama_cpp.__version__,
            "jinja2": jinja2.__version__,
            "reference": "llama.cpp (vendored in llama-cpp-python, built from source): "
                         "Llama(vocab_only=True).tokenize(bytes, add_bos=False, special=parse_special), "
                         "llama_token_to_piece(id, special=True) concatenated",
            "model": os.path.basename(args.model),
            "model_sha256": model_sha,
            "tokenizer_pre": llm.metadata.get("tokenizer.ggml.pre"),
            "wikitext_file": "wikitext-2-raw/wiki.test.raw",
            "wikitext_sha256": hashlib.sha256(wiki).hexdigest(),
            "llama_cpp_wikitext_seconds": round(t_wiki, 3),
        },
        "cases": out_cases,
        "chat": chats,
        "pre_variants": variants,
        "wikitext_full": {
            "n_tokens": len(wiki_ids),
            "ids_sha256": sha256_ids(wiki_ids),
            "block": BLOCK,
            "block_sha256": blocks,
            "first_ids": wiki_ids[:64],
        },
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        text = json.dumps(doc, ensure_ascii=False, indent=1)
        # one line per list of numbers or hashes
        text = re.sub(r"\[\s*([-0-9\",\sa-f]*?)\s*\]",
                      lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",") if x.strip()) + "]",
                      text)
        f.write(text + "\n")
    print(f"wrote {args.out}: {len(out_cases)} cases, {len(chats)} chats, "
          f"wikitext {len(wiki_ids)} tokens ({t_wiki:.2f} s in llama.cpp)", file=sys.stderr)


if __name__ == "__main__":
    main()

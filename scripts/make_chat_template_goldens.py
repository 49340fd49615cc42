#!/usr/bin/env python3
"""Generates tests/testdata/tokenizer/chat_template_goldens.json: the text the real Jinja chat
templates render for multi-turn conversations, for engine/tokenizer/tokenizer_test.cc
(Tokenizer::ApplyChatTemplate with a list of ChatMessage).

    python3 scripts/make_chat_template_goldens.py [--model "$(scripts/fetch_model.sh)"]

Templates:
  smollm2: tokenizer.chat_template of SmolLM2-135M-Instruct (read from --model when given,
           else the copy below, which is that GGUF's text verbatim);
  gemma3:  google/gemma-3-270m-it's tokenizer_config.json chat_template (text part; the
           270m base GGUF our tests use carries no template);
  llama3:  meta-llama/Meta-Llama-3-8B-Instruct's chat_template.
Rendering: jinja2 the way transformers' apply_chat_template does (trim_blocks, lstrip_blocks,
raise_exception), with bos_token="" (lmul adds BOS as a token through Encode(add_bos), so
ApplyChatTemplate leaves the template's leading {{ bos_token }} out). Conversations whose
rendering raises (Gemma's role alternation) are recorded with "error" instead of "rendered".
Needs only jinja2 (Debian python3-jinja2 or the venv); the output is committed.
"""

import argparse
import json
import struct
import sys

import jinja2

SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}")

GEMMA3 = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim"
    " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")


def M(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


CONVERSATIONS: list[list[dict[str, str]]] = [
    [M("user", "Hi?")],
    [M("user", "  padded message \n")],
    [M("system", "You are terse."), M("user", "What is 2+2?")],
    [M("user", "What is 2+2?"), M("assistant", "4"), M("user", "And 3+3?")],
    [M("system", " Be brief. "), M("user", "Name a colour."), M("assistant", " Red. "),
     M("user", "Another?")],
    [M("system", "Only a system message.")],
    [],
    [M("user", "Two"), M("user", "users in a row")],
    [M("user", "Tabs\tand\nnewlines\n\n inside")],
]


def gguf_chat_template(path: str) -> str:
    """tokenizer.chat_template of a GGUF file (minimal reader: header and metadata only)."""
    sizes = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
             12: "d"}
    with open(path, "rb") as f:
        def read(fmt: str):
            return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]

        def string() -> str:
            return f.read(read("Q")).decode("utf-8")

        def value(t: int):
            if t == 8:
                return string()
            if t == 9:
                et, n = read("I"), read("Q")
                return [value(et) for _ in range(n)]
            return read(sizes[t])

        if f.read(4) != b"GGUF":
            sys.exit(f"{path}: not a GGUF file")
        read("I")
        read("Q")
        for _ in range(read("Q")):
            key, t = string(), read("I")
            v = value(t)
            if key == "tokenizer.chat_template":
                return v
    sys.exit(f"{path}: no tokenizer.chat_template")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="SmolLM2 GGUF to read its template from")
    ap.add_argument("--out", default="tests/testdata/tokenizer/chat_template_goldens.json")
    args = ap.parse_args()
    smollm2 = SMOLLM2
    if args.model:
        smollm2 = gguf_chat_template(args.model)
        if smollm2 != SMOLLM2:
            sys.exit("the GGUF's template differs from the copy in this script: update SMOLLM2")

    def raise_exception(msg: str):
        raise jinja2.exceptions.TemplateError(msg)

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    out = {
        "generator": "scripts/make_chat_template_goldens.py",
        "jinja2": jinja2.__version__,
        "bos_token": "",
        "templates": {"smollm2": smollm2, "gemma3": GEMMA3, "llama3": LLAMA3},
        "cases": [],
    }
    for name in ("smollm2", "gemma3", "llama3"):
        tmpl = env.from_string(out["templates"][name])
        for messages in CONVERSATIONS:
            for gen in (True, False):
                case = {"template": name, "messages": messages, "add_generation_prompt": gen}
                try:
                    case["rendered"] = tmpl.render(messages=messages, bos_token="",
                                                   add_generation_prompt=gen)
                except jinja2.exceptions.TemplateError as e:
                    case["error"] = str(e)
                out["cases"].append(case)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{args.out}: {len(out['cases'])} cases")


if __name__ == "__main__":
    main()

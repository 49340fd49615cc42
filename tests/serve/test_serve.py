"""`lmul serve` end to end on loopback (run by run_e2e.sh under ctest): the real openai client
(completions, chat, streaming, models), answers equal to `lmul run`, echo logprobs, lm-eval's
local-completions on a few ARC-Easy questions equal to `lmul eval`, robustness (malformed JSON,
wrong types, huge bodies and prompts, too many tokens, unknown policy, vanished and slow
clients, a full queue), a bounded load test, and shutdown on SIGTERM.

Environment: LMUL_BIN (the lmul binary), LMUL_MODEL (the default model), LMUL_DATA (optional:
the shared data; the lm-eval test skips without ARC-Easy).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import load_test  # noqa: E402

LMUL = os.environ["LMUL_BIN"]
MODEL = os.environ["LMUL_MODEL"]
REPO = Path(__file__).resolve().parents[2]


class Server:
    """A `lmul serve` process on 127.0.0.1 and a free port (--port 0, read from stderr)."""

    def __init__(self, *flags: str) -> None:
        self.proc = subprocess.Popen(
            [LMUL, "serve", "-m", MODEL, "--port", "0", *flags],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        deadline = time.time() + 120
        port = None
        assert self.proc.stderr is not None
        while port is None:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("lmul serve exited: " + "".join(self.log))
            self.log.append(line)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
            if time.time() > deadline:
                raise RuntimeError("lmul serve did not start")
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)

    def request(self, method: str, path: str, body: bytes | str | None = None,
                timeout: float = 120) -> tuple[int, dict]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            return r.status, json.loads(data)
        finally:
            c.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server("--parallel", "2", "--queue", "32", "--ctx", "512", "--timeout", "5",
               "--max-body", "200000", "--alias", "smollm2")
    yield s
    assert s.stop() == 0, "".join(s.log)


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=120)


def lmul_run(prompt: str, n: int, *flags: str) -> str:
    out = subprocess.run([LMUL, "run", "-m", MODEL, "-p", prompt, "-n", str(n), "--temp", "0",
                          *flags], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.endswith("\n")
    return out.stdout[:-1]


def test_models_and_health(server: Server, client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == ["smollm2"]
    status, h = server.request("GET", "/health")
    assert status == 200 and h["status"] == "ok"


def test_completion_equals_lmul_run(client: openai.OpenAI) -> None:
    prompt = "The capital of France is"
    r = client.completions.create(model="smollm2", prompt=prompt, max_tokens=12, temperature=0)
    assert r.choices[0].text == lmul_run(prompt, 12)
    assert r.choices[0].finish_reason in ("length", "stop")
    assert r.usage.prompt_tokens == 5


def test_lmul_arith_per_request(client: openai.OpenAI) -> None:
    prompt = "Water boils at a temperature of"
    r = client.completions.create(model="smollm2", prompt=prompt, max_tokens=10, temperature=0,
                                  extra_body={"lmul_arith": "lmul-all"})
    assert r.choices[0].text == lmul_run(prompt, 10, "--arith", "lmul-all")


def test_chat_equals_lmul_run_chat(client: openai.OpenAI) -> None:
    q = "What is the capital of France?"
    r = client.chat.completions.create(model="smollm2", max_tokens=16, temperature=0,
                                       messages=[{"role": "user", "content": q}])
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == lmul_run(q, 16, "--chat")


def test_chat_stream_equals_non_stream(client: openai.OpenAI) -> None:
    msgs = [{"role": "system", "content": "You answer in one short sentence."},
            {"role": "user", "content": "Name a colour."},
            {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": "Another one?"}]
    plain = client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=20,
                                           temperature=0)
    chunks = list(client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=20,
                                                 temperature=0, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == plain.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == plain.choices[0].finish_reason
    assert plain.choices[0].message.content


def test_completion_stream_with_stop(client: openai.OpenAI) -> None:
    prompt = "1, 2, 3, 4,"
    plain = client.completions.create(model="smollm2", prompt=prompt, max_tokens=20,
                                      temperature=0)
    full = plain.choices[0].text
    stop = full[6:9] if len(full) > 9 else None
    if stop is None:
        pytest.skip(f"continuation too short: {full!r}")
    cut = client.completions.create(model="smollm2", prompt=prompt, max_tokens=20,
                                    temperature=0, stop=[stop])
    assert cut.choices[0].text == full[:full.index(stop)]
    assert cut.choices[0].finish_reason == "stop"
    stream = client.completions.create(model="smollm2", prompt=prompt, max_tokens=20,
                                       temperature=0, stop=[stop], stream=True)
    assert "".join(c.choices[0].text for c in stream) == cut.choices[0].text


def test_echo_logprobs(client: openai.OpenAI) -> None:
    prompt = "Question: Which gas do plants absorb?\nAnswer: carbon dioxide"
    r = client.completions.create(model="smollm2", prompt=prompt, max_tokens=0, echo=True,
                                  logprobs=2, temperature=0)
    lp = r.choices[0].logprobs
    assert r.choices[0].text == prompt
    assert len(lp.tokens) == r.usage.prompt_tokens == len(lp.token_logprobs)
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert all(x < 0 for x in lp.token_logprobs[1:])
    assert all(len(t) <= 2 and max(t.values()) >= x
               for t, x in zip(lp.top_logprobs[1:], lp.token_logprobs[1:]))
    assert "".join(lp.tokens) == prompt
    assert lp.text_offset[0] == 0 and lp.text_offset == sorted(lp.text_offset)


# --- robustness: a 4xx JSON error naming the field; the server keeps serving ---

@pytest.mark.parametrize("body,status,param", [
    (b"{not json", 400, "body"),
    (b'["a"]', 400, "body"),
    (b'{"prompt": 12}', 400, "prompt"),
    (b'{"prompt": "hi", "max_tokens": "8"}', 400, "max_tokens"),
    (b'{"prompt": "hi", "temperature": [1]}', 400, "temperature"),
    (b'{"prompt": "hi", "max_tokens": 100000}', 400, "max_tokens"),
    (b'{"prompt": "hi", "lmul_arith": "fp33"}', 400, "lmul_arith"),
    (b'{"prompt": [1, 99999999]}', 400, "prompt"),
    (b'{"prompt": "hi", "stop": ["a", "b", "c", "d", "e"]}', 400, "stop"),
])
def test_bad_completion_requests(server: Server, body: bytes, status: int, param: str) -> None:
    got, r = server.request("POST", "/v1/completions", body)
    assert got == status, r
    assert r["error"]["param"] == param, r
    assert param in r["error"]["message"]


def test_bad_chat_requests(server: Server) -> None:
    got, r = server.request("POST", "/v1/chat/completions",
                            json.dumps({"messages": [{"role": "robot", "content": "x"}]}))
    assert got == 400 and r["error"]["param"] == "messages[0].role"
    got, r = server.request("POST", "/v1/chat/completions",
                            json.dumps({"messages": [{"role": "user", "content": "x"}],
                                        "max_tokens": 10 ** 6}))
    assert got == 400 and r["error"]["param"] == "max_tokens"


def test_huge_body_and_prompt(server: Server) -> None:
    # Beyond --max-body (200000 bytes): 413 with a JSON error.
    got, r = server.request("POST", "/v1/completions",
                            json.dumps({"prompt": "word " * 60000}))
    assert got == 413 and r["error"]["param"] == "body"
    # Within the body limit but beyond --ctx 512 tokens.
    got, r = server.request("POST", "/v1/completions",
                            json.dumps({"prompt": "word " * 5000, "max_tokens": 1}))
    assert got == 400 and r["error"]["param"] == "prompt"
    assert server.request("GET", "/health")[0] == 200


def test_unknown_endpoint(server: Server) -> None:
    got, r = server.request("GET", "/v1/nothing")
    assert got == 404 and "error" in r


def test_vanishing_and_slow_clients(server: Server, client: openai.OpenAI) -> None:
    # A streaming client that disconnects after the first event.
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 200, "stream": True})
    s.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
    got = b""
    while b"data: " not in got:
        chunk = s.recv(4096)
        assert chunk, got
        got += chunk
    s.close()
    # A slow client: headers promise a body that never comes (held for the read timeout).
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    slow.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
    t0 = time.time()
    r = client.completions.create(model="smollm2", prompt="The sky is", max_tokens=4,
                                  temperature=0)
    assert r.choices[0].text and time.time() - t0 < 60
    # The server gives up on it after --timeout 5 s: an error answer or a closed connection.
    slow.settimeout(30)
    t0 = time.time()
    answer = slow.recv(4096)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer
    assert time.time() - t0 < 25
    slow.close()
    assert server.request("GET", "/health")[0] == 200


def test_load(server: Server) -> None:
    r = load_test.run(server.url, clients=6, requests=3, max_tokens=8, timeout=300)
    assert r["errors"] == [], r["errors"]
    assert r["requests"] == 18
    print(json.dumps(r))


def test_queue_full_and_sigterm() -> None:
    s = Server("--parallel", "1", "--queue", "0", "--ctx", "512")
    try:
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
        c.request("POST", "/v1/completions",
                  body=json.dumps({"prompt": "Once upon a time", "max_tokens": 300,
                                   "stream": True, "temperature": 0}),
                  headers={"Content-Type": "application/json"})
        resp = c.getresponse()
        assert resp.status == 200
        assert resp.read(6) == b"data: "  # generating: the one slot is taken
        got, r = s.request("POST", "/v1/completions", json.dumps({"prompt": "hi"}))
        assert got == 503 and r["error"]["type"] == "server_error", r
        # SIGTERM while the stream runs: the process ends cleanly and soon.
        t0 = time.time()
        assert s.stop() == 0, "".join(s.log)
        assert time.time() - t0 < 20
        assert any("shutting down" in line for line in s.log)
        c.close()
    finally:
        s.stop()


def arc_questions(n: int) -> list[dict] | None:
    data = os.environ.get("LMUL_DATA") or subprocess.run(
        [str(REPO / "scripts" / "data_dir.sh")], capture_output=True, text=True).stdout.strip()
    path = Path(data) / "arc-easy" / "ARC-Easy-Test.jsonl"
    if not path.exists():
        return None
    with open(path) as f:
        return [json.loads(line) for _, line in zip(range(n), f)]


def test_lm_eval_local_completions_equals_lmul_eval(server: Server, tmp_path: Path) -> None:
    import importlib.util
    if importlib.util.find_spec("tenacity") is None:
        pytest.fail("lm-eval's API models need tenacity (lm-eval[api]): "
                    "pip install tenacity into the venv")
    qs = arc_questions(5)
    if qs is None:
        pytest.skip("ARC-Easy not found (LMUL_DATA)")
    # A local task: the first 5 ARC-Easy test questions in lm-eval's arc_easy format.
    rows = [{"id": q["id"], "question": q["question"]["stem"],
             "choices": {"text": [c["text"] for c in q["question"]["choices"]],
                         "label": [c["label"] for c in q["question"]["choices"]]},
             "answerKey": q["answerKey"]} for q in qs]
    (tmp_path / "arc5.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "arc5.yaml").write_text(f"""task: arc5_local
dataset_path: json
dataset_kwargs:
  data_files:
    test: {tmp_path / 'arc5.jsonl'}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{choices.label.index(answerKey)}}}}"
doc_to_choice: "{{{{choices.text}}}}"
metric_list:
  - metric: acc
  - metric: acc_norm
""")
    out = tmp_path / "out"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args",
           f"base_url={server.url}/v1/completions,model=smollm2,num_concurrent=2,max_retries=1,"
           "tokenizer_backend=remote",
           "--tasks", "arc5_local", "--include_path", str(tmp_path), "--output_path", str(out),
           "--log_samples"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    samples = sorted(out.rglob("samples_arc5_local_*.jsonl"))
    assert samples, list(out.rglob("*"))
    lm = {}
    for line in samples[0].read_text().splitlines():
        s = json.loads(line)
        lm[s["doc"]["id"]] = [float(r[0][0]) for r in s["resps"]]  # stored as strings
    assert len(lm) == 5
    # lmul eval on the same questions: the same log-likelihoods, bit for bit.
    data_dir = tmp_path / "data" / "arc-easy"
    data_dir.mkdir(parents=True)
    (data_dir / "ARC-Easy-Test.jsonl").write_text("".join(json.dumps(q) + "\n" for q in qs))
    ev = tmp_path / "eval.json"
    subprocess.run([LMUL, "eval", "-m", MODEL, "--tasks", "arc_easy", "--arith", "fp32",
                    "--data-dir", str(tmp_path / "data"), "--json", str(ev)],
                   check=True, capture_output=True, timeout=600)
    ex = json.loads(ev.read_text())["examples"]
    assert len(ex) == 5
    for e in ex:
        ours = e["scores"]["fp32"]["loglik"]
        assert lm[e["id"]] == ours, (e["id"], lm[e["id"]], ours)

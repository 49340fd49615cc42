"""Goldens for eval/lm_eval_test.cc: lm-eval 0.4.13's few-shot sampler and CPython's random.

Run with the shared venv (scripts/venv.sh): python eval/make_fewshot_goldens.py
Prints the values pasted into lm_eval_test.cc (PyRandomTest, FewshotTest).
"""

import random
import sys

from lm_eval.api.metrics import exact_match_hf_evaluate
from lm_eval.api.samplers import ContextSampler
from lm_eval.filters.extraction import RegexFilter

# gsm8k's filters and exact_match arguments (lm_eval/tasks/gsm8k/gsm8k.yaml).
STRICT = RegexFilter(regex_pattern=r"#### (\-?[0-9\.\,]+)", group_select=0)
FLEX = RegexFilter(regex_pattern=r"(-?[$0-9.,]{2,})|(-?[0-9]+)", group_select=-1)
IGNORE = [",", "\\$", "(?s).*#### ", "\\.$"]
RESPONSES = [
    " She has 16 - 3 - 4 = 9 eggs.\n#### 18",
    " The answer is $1,000.",
    " 5 apples and 12.5 pears.\n",
    " no numbers here",
    " #### -3.\nQuestion:",
    " 7",
    " It costs $18.00 in total. #### 18",
]
REFERENCE = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n#### 18"


def main() -> None:
    print(f"# python {sys.version.split()[0]}")
    r = random.Random(1234)
    print("getrandbits32", [r.getrandbits(32) for _ in range(3)])
    r = random.Random(2**40 + 7)
    print("seed2^40+7", [r.getrandbits(32) for _ in range(2)], r._randbelow(1000), r.getrandbits(40))
    r = random.Random(1234)
    print("sample", r.sample(range(2251), 5), r.sample(range(2251), 25), r.sample(range(10), 4),
          r.sample(range(30), 8))
    for resp in RESPONSES:
        st = STRICT.apply([[resp]], [{}])[0][0]
        fx = FLEX.apply([[resp]], [{}])[0][0]
        em = [exact_match_hf_evaluate([x], [REFERENCE], regexes_to_ignore=IGNORE, ignore_case=True,
                                      ignore_punctuation=False)["exact_match"] for x in (st, fx)]
        print(f"gsm8k {resp!r}: strict {st!r} flexible {fx!r} exact_match {em}")
    for pred, ref in (("$1,000.", "So 1,000\n#### 1000"), ("-3.", "x\n#### -3"), ("18", "#### 18.\n"),
                      ("ABC", "#### abc"), ("18", "#### 180")):
        em = exact_match_hf_evaluate([pred], [ref], regexes_to_ignore=IGNORE, ignore_case=True,
                                     ignore_punctuation=False)["exact_match"]
        print(f"exact_match {pred!r} {ref!r}: {em}")
    # lm-eval's sampler as the task uses it: one ContextSampler per task, seeded 1234
    # (set_fewshot_seed), sample(k) per document in document order.
    for pool, k in ((2251, 5), (7473, 5), (12, 3)):
        s = ContextSampler(list(range(pool)), rnd=1234)
        print(f"context_sampler pool={pool} k={k}", [s.sample(k) for _ in range(3)])


if __name__ == "__main__":
    main()

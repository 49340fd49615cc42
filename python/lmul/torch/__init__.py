"""lmul.torch: L-Mul inside PyTorch (needs torch; ``import lmul`` alone does not).

Importing this module registers the custom ops ``torch.ops.lmul.{mul, matmul, bmm, reduce}``
(torch.library, with fake kernels and autograd: torch.compile and opcheck work) and gives:

- :func:`mul`, :func:`matmul`, :func:`bmm`, :func:`reduce`: wrappers with broadcasting,
  batch dims and dtype handling (lmul/torch/ops.py);
- :func:`scaled_matmul`, :func:`scaled_mul`: the same at a scaled site (per-tensor
  power-of-two scaling, the engine's definition; docs/engine.md "Scaled fp8"), and
  :func:`scale_exponent` / :func:`scale_saturate`, the scale itself;
- :func:`patch` / :func:`unpatch`: a policy put into a Hugging Face model (lmul/torch/patch.py).
"""

from __future__ import annotations

import pathlib as _pathlib

try:
    import torch as _torch  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without torch
    raise ImportError("lmul.torch needs PyTorch: pip install torch (or pip install 'lmul[torch]')") from e

# Every public name of lmul/torch/ops.py (its __all__, the one list), re-exported here.
from lmul.torch import ops as _ops
from lmul.torch.ops import *  # noqa: E402, F403

__all__ = list(_ops.__all__)

# patch/unpatch (lmul/torch/patch.py; transformers is imported lazily there). Imported
# eagerly: `from ... import patch` rebinds the name `patch` from the submodule to the
# function, so lmul.torch.patch is the function even after `import lmul.torch.patch`.
if (_pathlib.Path(__file__).parent / "patch.py").exists():
    from lmul.torch.patch import patch, unpatch  # noqa: E402

    __all__ += ["patch", "unpatch"]

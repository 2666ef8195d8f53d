"""The project's one answers module (:mod:`reward_fns.answers`), for the design API.

In the trainer's process ``reward_fns`` is an installed package. A sandboxed design child runs
``python -I -S`` without site-packages and enters ``verl_metaagent`` as a bare package (see
``design/runtime.py``); it enters ``reward_fns`` the same way here, so only the stdlib-only
``reward_fns.answers`` modules load (never ``reward_fns/__init__``: no registry, no asyncio).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types


def _enter_bare_reward_fns() -> None:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    pkg = types.ModuleType("reward_fns")
    pkg.__path__ = [os.path.join(root, "reward_fns")]
    sys.modules["reward_fns"] = pkg


if "reward_fns" not in sys.modules and importlib.util.find_spec("reward_fns") is None:
    _enter_bare_reward_fns()

from reward_fns import answers  # noqa: E402

__all__ = ["answers"]

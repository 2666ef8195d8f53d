"""``metaagent.*`` overrides on a *stock* ``python -m verl.trainer.main_ppo`` command line.

verl's ``ppo_trainer.yaml`` has no ``metaagent`` group, so Hydra would reject
``metaagent.phase.phase_length=2`` ("Key 'metaagent' is not in struct") and users would have to know
to write ``++metaagent.phase.phase_length=2``. When the plugin is imported by verl's own launcher (it
is: ``VERL_USE_EXTERNAL_MODULES=verl_metaagent`` or the ``verl.plugins`` entry point load it while
``verl`` imports, before Hydra reads ``sys.argv``), :func:`apply_to_stock_launch` rewrites the
command line once:

* ``metaagent.<key>=<value>`` becomes ``++metaagent.<key>=<value>`` (Hydra's add-or-override); every
  unset key keeps the default of its dataclass, as in ``verl_metaagent/config/metaagent.yaml``;
* with ``trainer.v1.trainer_mode=metaagent`` (or ``metaagent_colocate_async``) and no
  ``algorithm.adv_estimator`` override, the mode's estimator ``algorithm.adv_estimator=metaagent`` is added
  (the mode cannot run with another one).

Nothing else is touched, and nothing at all unless ``__main__`` is ``verl.trainer.main_ppo``.
Pure functions; :func:`rewrite_overrides` is unit-tested.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

STOCK_MAIN = "verl.trainer.main_ppo"
MODE_OVERRIDES = ("trainer.v1.trainer_mode=metaagent", "trainer.v1.trainer_mode=metaagent_colocate_async")
ESTIMATOR_KEY = "algorithm.adv_estimator"


def _key(arg: str) -> str:
    return arg.lstrip("+~").split("=", 1)[0]


def rewrite_overrides(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(new_args, notes)`` for a stock launch's Hydra arguments (see the module docstring).

    Options (``--config-name``, ``-cn`` ...) and anything that is not a plain ``key=value`` override
    pass through unchanged; ``+``/``++``/``~`` overrides are the user's explicit choice and are kept.
    """
    out: list[str] = []
    notes: list[str] = []
    rewritten = 0
    for arg in args:
        if arg.startswith("metaagent.") and "=" in arg:
            out.append("++" + arg)
            rewritten += 1
        else:
            out.append(arg)
    if rewritten:
        notes.append(f"{rewritten} metaagent.* override(s) "
                     "passed to Hydra as ++metaagent.* (verl's ppo_trainer has no metaagent group)")
    keys = {_key(a) for a in out if "=" in a and not a.startswith("-")}
    mode = next((a for a in out if a in MODE_OVERRIDES), None)
    if mode and ESTIMATOR_KEY not in keys:
        out.append(f"{ESTIMATOR_KEY}=metaagent")
        notes.append(f"{mode}: added algorithm.adv_estimator=metaagent")
    return out, notes


def is_stock_launch(orig_argv: Sequence[str], argv0: str) -> bool:
    """True for ``python -m verl.trainer.main_ppo ...`` or ``python .../verl/trainer/main_ppo.py ...``.

    The plugin is imported while ``python -m`` is still importing ``verl`` (the parent package), before
    ``__main__`` exists, so the interpreter's own command line (``sys.orig_argv``) is what tells."""
    args = list(orig_argv)
    for i, arg in enumerate(args[:-1]):
        if arg == "-m":
            return args[i + 1] == STOCK_MAIN
    return argv0.replace("\\", "/").endswith("verl/trainer/main_ppo.py")


def _running_stock_main() -> bool:
    return is_stock_launch(getattr(sys, "orig_argv", []), sys.argv[0] if sys.argv else "")


def apply_to_stock_launch(argv: Optional[list[str]] = None) -> bool:
    """Rewrite ``sys.argv`` (or ``argv``) in place when this process is verl's stock launcher. Idempotent."""
    if argv is None:
        if not _running_stock_main() or getattr(apply_to_stock_launch, "_done", False):
            return False
        argv = sys.argv
        apply_to_stock_launch._done = True  # type: ignore[attr-defined]
    new_args, notes = rewrite_overrides(argv[1:])
    argv[1:] = new_args
    for note in notes:
        print(f"[verl_metaagent] {note}", file=sys.stderr)
    return bool(notes)

"""verl's own data sources: graded by verl's ``default_compute_score`` when nothing here is registered.

``openai/gsm8k``, ``lighteval/MATH``, ``numina_*``, ``searchR1_*``, ... are the names verl 0.9.1's
``verl.utils.reward_score.default_compute_score`` grades itself. A data row with one of them and
no grader of ours is handed to verl (a log line says so once per data source), as in a stock verl
run. verl is imported only then, so ``import reward_fns`` stays light.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import Any, Callable, Optional

logger = logging.getLogger("reward_fns")

#: The names verl 0.9.1's default_compute_score grades (read from its source; a test checks the
#: installed verl against this list). ``codecontests``, ``apps``, ``taco`` and ``codeforces`` never
#: get here: our sandboxed code grader is registered for them.
VERL_DATA_SOURCES = frozenset({
    "openai/gsm8k",
    "lighteval/MATH", "DigitalLearningGmbH/MATH-lighteval", "HuggingFaceH4/MATH-500",
    "math_dapo", "math", "math_dapo_reasoning",
    "numina_aops_forum", "numina_synthetic_math", "numina_amc_aime", "numina_synthetic_amc", "numina_cn_k12",
    "numina_olympiads",
    "codecontests", "apps", "codeforces", "taco",
    "hiyouga/geometry3k",
    "searchR1_nq", "searchR1_triviaqa", "searchR1_popqa", "searchR1_hotpotqa", "searchR1_2wikimultihopqa",
    "searchR1_musique", "searchR1_bamboogle",
})
#: Prefixes verl grades (``data_source.startswith("aime")``).
VERL_PREFIXES = ("aime",)
TARGET = "verl.utils.reward_score.default_compute_score"

_ANNOUNCED: set[str] = set()
_LOCK = threading.Lock()


def verl_grades(data_source: str) -> bool:
    """Whether verl's ``default_compute_score`` grades ``data_source`` (and verl is installed)."""
    known = data_source in VERL_DATA_SOURCES or data_source.startswith(VERL_PREFIXES)
    return known and importlib.util.find_spec("verl") is not None


def verl_grader(data_source: str) -> Optional[Callable[..., Any]]:
    """A grader ``fn(answer, ground_truth, extra_info, **kwargs)`` calling verl for ``data_source``,
    or None when verl does not grade it. Logs the fallback once per data source."""
    if not verl_grades(data_source):
        return None
    with _LOCK:
        if data_source not in _ANNOUNCED:
            _ANNOUNCED.add(data_source)
            logger.warning(
                "reward_fns: no grader registered for data_source %r; using verl's %s for it", data_source, TARGET
            )

    def grade(answer: str, ground_truth: Any, extra_info: Optional[dict] = None, **kwargs: Any) -> Any:
        from verl.utils.reward_score import default_compute_score

        return default_compute_score(data_source, answer, ground_truth, extra_info, **kwargs)

    grade.__qualname__ = f"verl_default_compute_score[{data_source}]"
    return grade

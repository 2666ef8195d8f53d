"""The project's one answers module: find the final answer or program in a reply, normalise
answers, vote. Stdlib only and free of the rest of ``reward_fns``, so the sandboxed design API
imports it too (it enters ``reward_fns`` as a bare package; see ``verl_metaagent/design/_answers.py``).

Users: the math and code graders (``reward_fns.math``, ``reward_fns.code``), the design API
(``extract_answer``, ``extract_code``, ``normalize_answer``, ``majority_vote``), the workflow
dialect's votes and the rollout tree's majority answer. A fix here lands everywhere.
"""

from reward_fns.answers.code import extract_code
from reward_fns.answers.extract import Box, Found, boxes, extract_answer, find_answer, last_boxed, looks_bare
from reward_fns.answers.normalize import as_choice, format_rational, normalize, split_top, to_rational
from reward_fns.answers.unicode import unicode_to_latex
from reward_fns.answers.vote import answer_key, code_key, majority_vote

__all__ = [
    "Box",
    "Found",
    "answer_key",
    "as_choice",
    "boxes",
    "code_key",
    "extract_answer",
    "extract_code",
    "find_answer",
    "format_rational",
    "last_boxed",
    "looks_bare",
    "majority_vote",
    "normalize",
    "split_top",
    "to_rational",
    "unicode_to_latex",
]

"""Helpers shared by the tests (not shipped with the plugin): which processes exist
(:mod:`.processes`), which heavy packages a snippet imports (:mod:`.imports`).

``tests/`` is on ``sys.path`` (pytest puts the directory of the root ``conftest.py`` there), so tests
import them as ``from support.processes import processes_of``.
"""

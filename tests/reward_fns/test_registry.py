"""Registry: exact, prefix, alias resolution; errors; light import."""


import os

import pytest

import reward_fns
from reward_fns import GradeResult, UnknownDataSource, register, resolve, unregister


def test_builtin_resolution():
    assert resolve("math/aime24").name == "math/"
    assert resolve("math/some_new_set").name == "math/"
    assert resolve("code/apps").name == "code/"
    assert resolve("aime24").name == "math/"
    assert resolve("livecodebench").name == "code/"


def test_unknown_data_source_lists_registered():
    with pytest.raises(UnknownDataSource) as err:
        reward_fns.grade("nope/x", "1", "1")
    msg = str(err.value)
    assert "nope/x" in msg and "math/" in msg and "code/" in msg and "aime24" in msg


def test_exact_beats_prefix_and_longest_prefix_wins():
    @register("math/special")
    def special(answer, ground_truth, extra_info=None, **kw):
        return GradeResult(0.5, False, {"who": "special"})

    @register("math/deep/")
    def deep(answer, ground_truth, extra_info=None, **kw):
        return 0.25

    try:
        assert reward_fns.grade("math/special", "1", "1").detail["who"] == "special"
        assert reward_fns.grade("math/deep/x", "1", "1").score == 0.25
        assert reward_fns.grade("math/other", "\\boxed{1}", "1").score == 1.0
    finally:
        unregister("math/special")
        unregister("math/deep/")
    assert resolve("math/special").name == "math/"


def test_duplicate_registration_needs_replace():
    @register("tmp/dup")
    def a(answer, ground_truth, extra_info=None, **kw):
        return 1.0

    try:
        with pytest.raises(ValueError):

            @register("tmp/dup")
            def b(answer, ground_truth, extra_info=None, **kw):
                return 0.0

        @register("tmp/dup", replace=True)
        def c(answer, ground_truth, extra_info=None, **kw):
            return 0.0

        assert reward_fns.grade("tmp/dup", "x", "y").score == 0.0
    finally:
        unregister("tmp/dup")


def test_compute_score_passes_kwargs():
    seen = {}

    @register("tmp/kw")
    def g(answer, ground_truth, extra_info=None, **kw):
        seen.update(kw)
        return {"score": 1.0, "acc": True, "note": "hi"}

    try:
        out = reward_fns.compute_score("tmp/kw", "a", "b", {"i": 1}, foo=3)
        assert out == {"score": 1.0, "acc": True, "pred": "", "reason": "", "pass_rate": 1.0}
        assert seen == {"foo": 3}
    finally:
        unregister("tmp/kw")


def test_import_is_light():
    from support.imports import heavy_imports

    statements = "import reward_fns, reward_fns.code\nreward_fns.resolve('math/x'); reward_fns.resolve('code/x')"
    assert heavy_imports(statements, ("verl", "torch", "ray", "sympy", "math_verify")) == []


def test_verl_dict_has_one_schema_for_all_graders():
    import json

    from reward_fns.types import VERL_KEYS

    gt = json.dumps({"inputs": ["1\n"], "outputs": ["1"]})
    outs = [
        reward_fns.compute_score("math/polaris", "\\boxed{2}", "2"),
        reward_fns.compute_score("math/polaris", "no answer", "2"),
        reward_fns.compute_score("code/apps", "print(input())", gt),
        reward_fns.compute_score("code/apps", "print(5)", gt),
    ]
    assert all(tuple(o) == VERL_KEYS for o in outs)
    assert [o["score"] for o in outs] == [1.0, 0.0, 1.0, 0.0]
    assert outs[2]["reason"] == "all_passed" and outs[3]["reason"] == "wrong_answer"


# ---- verl's own data sources, missing graders, graders from files ------------------------------
def test_verl_data_sources_fall_back_to_verl_once(caplog):
    import logging

    from reward_fns import verl_fallback

    verl_fallback._ANNOUNCED.discard("openai/gsm8k")
    with caplog.at_level(logging.WARNING, logger="reward_fns"):
        right = reward_fns.compute_score("openai/gsm8k", "48 + 24 = 72\n#### 72", "72")
        wrong = reward_fns.compute_score("openai/gsm8k", "48 + 24 = 71\n#### 71", "72")
    assert (right["score"], wrong["score"]) == (1.0, 0.0)
    lines = [r.getMessage() for r in caplog.records if "openai/gsm8k" in r.getMessage()]
    assert len(lines) == 1 and "default_compute_score" in lines[0]
    assert resolve("lighteval/MATH").name == "verl:lighteval/MATH"
    assert resolve("aime2024").name == "verl:aime2024"  # verl's "aime" prefix
    assert resolve("aime24").name == "math/"  # ours first
    assert resolve("codeforces").name == "code/"  # never verl's unsandboxed prime_code


def test_verl_fallback_list_matches_the_installed_verl():
    """Every name verl 0.9.1's default_compute_score compares data_source with, and nothing else."""
    import ast
    import inspect

    from reward_fns.verl_fallback import VERL_DATA_SOURCES, VERL_PREFIXES

    verl_score = pytest.importorskip("verl.utils.reward_score")
    tree = ast.parse(inspect.getsource(verl_score.default_compute_score))
    names, prefixes = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "data_source":
            for comp in node.comparators:
                names.update(c.value for c in ast.walk(comp)
                             if isinstance(c, ast.Constant) and isinstance(c.value, str))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "startswith":
            prefixes.update(a.value for a in node.args if isinstance(a, ast.Constant))
    assert names == set(VERL_DATA_SOURCES) and prefixes == set(VERL_PREFIXES)


def test_missing_graders_names_them_and_how_to_add_one():
    got = reward_fns.missing_graders(["math/x", "nope/a", "openai/gsm8k", "nope/a", "code/apps", "zzz"])
    assert got == ["nope/a", "zzz"]
    msg = reward_fns.missing_graders_message(got, "train.parquet")
    for part in ("'nope/a'", "'zzz'", "train.parquet", "--reward-module", "REWARD_FNS_MODULES", "reward_fns.graders",
                 "@reward_fns.register('nope/a')", "math/<name>"):
        assert part in msg
    with pytest.raises(ValueError) as err:  # UnknownDataSource is a KeyError and a ValueError
        reward_fns.check_graders(["math/x", "nope/a"], "eval data")
    assert isinstance(err.value, UnknownDataSource) and "'nope/a'" in str(err.value)
    reward_fns.check_graders(["math/x", "openai/gsm8k"])


GRADER_FILE = '''
import reward_fns

@reward_fns.register("tmpfile/echo")
def grade(answer, ground_truth, extra_info=None, **kw):
    return 1.0 if answer.strip() == str(ground_truth) else 0.0
'''


def test_load_module_from_a_file(tmp_path):
    path = tmp_path / "my_graders.py"
    path.write_text(GRADER_FILE)
    try:
        module = reward_fns.load_module(str(path))
        assert reward_fns.load_module(str(path)) is module  # once
        assert reward_fns.grade("tmpfile/echo", " 7 ", "7").score == 1.0
        assert reward_fns.grade("tmpfile/echo", "8", "7").score == 0.0
    finally:
        unregister("tmpfile/echo")
    with pytest.raises(FileNotFoundError):
        reward_fns.load_module(str(tmp_path / "nope.py"))
    with pytest.raises(ValueError, match="--reward-module no_such_module_x: cannot load it"):
        reward_fns.load_modules(["no_such_module_x"])


def test_modules_from_the_environment_load_on_first_use(tmp_path):
    import subprocess
    import sys

    good, bad = tmp_path / "good_graders.py", tmp_path / "bad_graders.py"
    good.write_text(GRADER_FILE)
    bad.write_text("raise RuntimeError('broken on purpose')\n")
    code = (
        "import reward_fns\n"
        "print(reward_fns.grade('tmpfile/echo', '3', '3').score)\n"
        "try:\n    reward_fns.resolve('nope/y')\nexcept reward_fns.UnknownDataSource as e:\n    print(e)\n"
    )
    env = {**os.environ, "REWARD_FNS_MODULES": os.pathsep.join([str(good), str(bad)])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    score, message = out.stdout.splitlines()[:2]
    assert score == "1.0"
    assert "bad_graders.py" in message and "broken on purpose" in message  # the failed module is named
    assert "could not load grader module" in out.stderr

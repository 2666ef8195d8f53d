"""Registry: exact, prefix, alias resolution; errors; light import."""


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
    from verl_metaagent.testing.imports import heavy_imports

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

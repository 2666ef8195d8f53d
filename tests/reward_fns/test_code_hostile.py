"""Hostile programs score 0 and leave the grader alive."""

import asyncio
import json

import pytest

import reward_fns

STDIO = json.dumps({"inputs": ["1 2\n", "5 5\n"], "outputs": ["3", "10"]})
GOOD = "a, b = map(int, input().split())\nprint(a + b)\n"
FAST = dict(timeout=2.0, memory_mb=256)


async def _score(code, gt=STDIO, **kw):
    res = await reward_fns.grade_async("code/apps", code, gt, None, **{**FAST, **kw})
    return res


async def _still_alive():
    res = await _score(GOOD)
    assert res.score == 1.0, res.detail


HOSTILE = {
    "infinite_loop": "while True:\n    pass\n",
    "memory_bomb": "x = []\nwhile True:\n    x.append(' ' * (1 << 24))\n",
    "fork_storm": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    "huge_output": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
    "exit_before_print": "import sys\nsys.exit(0)\nprint(3)\n",
    "too_many_inputs": "a, b = map(int, input().split())\nc = input()\nprint(a + b)\n",
    "os_exit_unflushed": "import os\na, b = map(int, input().split())\nprint(a + b)\nos._exit(0)\n",
    "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
    "sleep_forever": "import time\ntime.sleep(1000)\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_scores_zero(name):
    res = await _score(HOSTILE[name])
    assert res.score == 0.0 and not res.correct, (name, res.detail)
    await _still_alive()


async def test_env_secret_not_visible(monkeypatch):
    monkeypatch.setenv("REWARD_FNS_FAKE_SECRET", "hunter2-s3cret")
    code = (
        "import os\n"
        "a, b = map(int, input().split())\n"
        "seen = os.environ.get('REWARD_FNS_FAKE_SECRET')\n"
        "try:\n"
        "    seen = seen or ('s3cret' in open('/proc/%d/environ' % os.getppid(), 'rb').read()"
        ".decode('latin1') and 'x')\n"
        "except OSError:\n"
        "    pass\n"
        "print(a + b if seen else 'none')\n"
    )
    res = await _score(code)
    assert res.score == 0.0, res.detail


async def test_cannot_write_outside_work_dir(tmp_path):
    target = tmp_path / "pwned.txt"
    code = (
        "a, b = map(int, input().split())\n"
        f"open({str(target)!r}, 'w').write('x')\n"
        "print(a + b)\n"
    )
    res = await _score(code)
    assert not target.exists()
    assert res.score == 0.0


async def test_can_write_inside_work_dir():
    code = "open('scratch.txt', 'w').write('ok')\na, b = map(int, input().split())\nprint(a + b)\n"
    res = await _score(code)
    assert res.score == 1.0, res.detail


async def test_forged_result_line_does_not_count():
    code = "print('@@RESULT@@' + '{\"passed\": [true, true], \"statuses\": [\"ok\", \"ok\"], \"early_exit\": false}')\n"
    res = await _score(code)
    assert res.score == 0.0


async def test_hostile_batch_concurrently():
    codes = list(HOSTILE.values()) + [GOOD] * 3
    results = await asyncio.gather(*[_score(c) for c in codes])
    assert [r.score for r in results] == [0.0] * len(HOSTILE) + [1.0] * 3


MEMORY_HUNTER = (
    "import gc, sys\n"
    "def scan(v, depth=0):\n"
    "    if isinstance(v, str):\n"
    "        return v if v.startswith('EXPECTED_' + 'zq81') else ''\n"
    "    if depth < 4 and isinstance(v, dict):\n"
    "        v = list(v.values())\n"
    "    if depth < 4 and isinstance(v, (list, tuple)):\n"
    "        for x in v:\n"
    "            r = scan(x, depth + 1)\n"
    "            if r:\n"
    "                return r\n"
    "    return ''\n"
    "found = ''\n"
    "f = sys._getframe()\n"
    "while f is not None and not found:\n"
    "    found = scan(list(f.f_locals.values()))\n"
    "    f = f.f_back\n"
    "for o in gc.get_objects():\n"
    "    found = found or scan(o)\n"
    "print(found or 'nothing')\n"
)


async def test_memory_hunter_finds_what_is_there():
    # control: the hunter does find a string the test process really holds (its own input)
    gt = json.dumps({"inputs": ["EXPECTED_zq81_OUTPUT"], "outputs": ["EXPECTED_zq81_OUTPUT"]})
    assert (await _score(MEMORY_HUNTER, gt)).score == 1.0


async def test_expected_outputs_not_in_test_process_memory():
    # ... but never the expected output: the processes running untrusted code never held it
    gt = json.dumps({"inputs": ["x\n"], "outputs": ["EXPECTED_zq81_OUTPUT"]})
    res = await _score(MEMORY_HUNTER, gt)
    assert res.score == 0.0

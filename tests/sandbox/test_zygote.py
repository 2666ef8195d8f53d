"""The warm fork-server: reused, restarted when killed, dies with its parent, leaks nothing between runs."""

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from verl_metaagent.design import AgentCallReply, DesignLimits, DesignTask, execute_design
from verl_metaagent.design.runtime import _DESIGN_PRELOAD
from metaagent_sandbox import PRELOAD_MODULES as PRELOAD
from metaagent_sandbox import SandboxLimits, active_protections, run_in_sandbox, run_python_sync
from metaagent_sandbox import zygote as zygote_mod
from metaagent_sandbox.process import default_mode
from metaagent_sandbox.settings import MODE_ENV

from leftovers import now_ticks, processes_started_before

PROT = active_protections()
LIM = SandboxLimits(wall_seconds=10, cpu_seconds=5, memory_mb=256, max_processes=8, max_output_bytes=1 << 16)


@pytest.fixture(autouse=True)
def sandbox_mode():
    """These tests choose their mode per call (overrides the both-modes fixture of conftest.py)."""
    return "zygote"


def _wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run(src, **kw):
    return run_python_sync(src, limits=kw.pop("limits", LIM), mode="zygote", **kw)


def _parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def test_zygote_is_reused_and_its_forker_is_the_parent_of_each_run():
    first = run("import os\nprint(os.getppid())")
    zpid, fpid = zygote_mod.zygote_pid(PRELOAD), zygote_mod.forker_pid(PRELOAD)
    second = run("import os\nprint(os.getppid())")
    assert (first.status, second.status) == ("ok", "ok")
    assert first.detail["mode"] == second.detail["mode"] == "zygote"
    assert zpid is not None and zygote_mod.zygote_pid(PRELOAD) == zpid
    assert int(first.stdout) == int(second.stdout) == fpid != zpid
    assert _parent_of(fpid) == zpid  # the coordinator forked the forker once, at its start


def test_zygote_is_restarted_after_being_killed():
    assert run("print(1)").stdout == "1\n"
    old = zygote_mod.zygote_pid(PRELOAD)
    os.kill(old, signal.SIGKILL)
    assert _wait_for(lambda: zygote_mod.zygote_pid(PRELOAD) is None)
    r = run("import os\nprint(os.getppid())")
    new = zygote_mod.zygote_pid(PRELOAD)
    assert (r.status, r.detail["mode"]) == ("ok", "zygote")
    assert new is not None and new != old and int(r.stdout) == zygote_mod.forker_pid(PRELOAD)


def test_a_dead_forker_takes_its_coordinator_along_and_both_are_replaced():
    assert run("print(1)").stdout == "1\n"
    zpid, fpid = zygote_mod.zygote_pid(PRELOAD), zygote_mod.forker_pid(PRELOAD)
    os.kill(fpid, signal.SIGKILL)
    assert _wait_for(lambda: not _alive(zpid) and zygote_mod.zygote_pid(PRELOAD) is None)
    r = run("print(2)")
    assert (r.stdout, r.detail["mode"]) == ("2\n", "zygote") and zygote_mod.zygote_pid(PRELOAD) not in (None, zpid)


def test_killing_the_zygote_mid_run_ends_that_run_and_leaves_nothing():
    async def main():
        task = asyncio.ensure_future(
            run_in_sandbox("import time\nprint('started', flush=True)\ntime.sleep(60)\n",
                           limits=SandboxLimits(wall_seconds=30), mode="zygote")
        )
        await asyncio.sleep(0.5)  # the zygote exists once the run was forked
        zpid, fpid = zygote_mod.zygote_pid(PRELOAD), zygote_mod.forker_pid(PRELOAD)
        os.kill(zpid, signal.SIGKILL)
        return zpid, fpid, await task

    zpid, fpid, r = asyncio.run(main())
    assert r.status == "killed" and "zygote died" in r.detail["reason"]
    assert not _alive(zpid) and _wait_for(lambda: not _alive(fpid))  # the forker dies with it
    assert run("print(2)").stdout == "2\n"  # a new zygote serves the next run


def test_no_state_leaks_between_runs():
    first = run("import json, random\njson.leaked = 1\nprint(random.random())")
    second = run("import json, random\nprint(hasattr(json, 'leaked'))\nprint(random.random())")
    assert (first.status, second.status) == ("ok", "ok")
    leaked, value = second.stdout.split()
    assert leaked == "False"
    assert value != first.stdout.strip()  # each run is reseeded, not a copy of the zygote's generator


def test_a_run_inherits_no_fds_of_the_zygote():
    src = (
        "import os, sys\n"
        "print(sorted(int(fd) for fd in os.listdir('/proc/self/fd')))\n"
        "print(sorted(int(p.rsplit('/', 1)[1]) for p in sys.path if p.startswith('/proc/self/fd/')))\n"
    )
    r = run(src)
    assert r.status == "ok", r.stderr
    open_fds, lib_dir_fds = (eval(line) for line in r.stdout.splitlines())
    # stdio, plus read-only stdlib directory fds when the interpreter's dir is private, plus the listing's own fd
    assert open_fds[:3] == [0, 1, 2] and len(open_fds) == 4 + len(lib_dir_fds)
    assert set(lib_dir_fds) <= set(open_fds[3:])


def test_environment_is_per_run():
    r = run("import os\nprint(os.environ['HOME'] == os.getcwd() == os.environ['TMPDIR'])\nprint(sorted(os.environ))")
    lines = r.stdout.splitlines()
    assert lines[0] == "True"
    assert eval(lines[1]) == ["HOME", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONIOENCODING", "TMPDIR"]


def test_exit_codes_and_uncaught_exceptions_match_the_interpreter():
    assert run("import sys\nsys.exit(3)").exit_code == 3
    assert run("raise SystemExit('bye')").exit_code == 1
    r = run("raise KeyError('k')")
    assert (r.status, r.exit_code) == ("error", 1) and r.stderr.strip().splitlines()[-1] == "KeyError: 'k'"
    r = run("import atexit\natexit.register(lambda: print('at exit'))\nprint('body')")
    assert r.stdout == "body\nat exit\n"


@pytest.mark.skipif(not PROT["unprivileged_uid"], reason="needs root to drop to a sandbox uid")
def test_files_left_in_shared_tmp_are_removed():
    r = run("import os\nfor d in ('/tmp', '/dev/shm'):\n    p = os.path.join(d, 'vm_sbx_leak_%d' % os.getuid())\n"
            "    try:\n        open(p, 'w').write('x')\n    except OSError:\n        continue\n    print(p)")
    assert r.status == "ok", r.stderr
    paths = r.stdout.split()
    # in the file-system jail /tmp is an empty read-only dir; /dev/shm is the host's
    assert [os.path.dirname(p) for p in paths] == (["/dev/shm"] if r.detail["jail"] else ["/tmp", "/dev/shm"])
    assert not any(os.path.exists(p) for p in paths)


def test_mode_selection_and_fallback(monkeypatch):
    monkeypatch.setenv(MODE_ENV, "spawn")
    assert default_mode() == "spawn"
    assert run_python_sync("print(1)").detail["mode"] == "spawn"
    monkeypatch.setenv(MODE_ENV, "bogus")
    with pytest.raises(ValueError):
        run_python_sync("print(1)")
    monkeypatch.delenv(MODE_ENV, raising=False)
    assert default_mode() == "zygote"
    # a zygote that cannot start: the run still happens, in a fresh interpreter
    monkeypatch.setattr(zygote_mod, "_MAIN", "/nonexistent/zygote.py")
    r = asyncio.run(run_in_sandbox("print('fallback')", limits=LIM, preload=PRELOAD + ("wave",)))  # a zygote of its own
    assert (r.status, r.stdout, r.detail["mode"]) == ("ok", "fallback\n", "spawn")


def test_a_program_that_does_not_compile_fails_in_its_child_and_the_zygote_survives():
    assert run("print(1)").stdout == "1\n"
    zpid = zygote_mod.zygote_pid(PRELOAD)
    bad = run("print(")
    # the program is compiled in the run's child, after the drop: the zygote never parses it
    assert (bad.status, bad.detail["mode"]) == ("error", "zygote") and "SyntaxError" in bad.stderr
    again = run("print(2)")
    assert (again.stdout, again.detail["mode"]) == ("2\n", "zygote")
    assert zygote_mod.zygote_pid(PRELOAD) == zpid


def test_design_children_load_only_what_designs_may_use():
    """The design zygote's warm heap is what every fork copies page by page: no logging, no
    threading, no import hook of the package, and the project root is not on the script's path."""
    from verl_metaagent.design.validate import ALLOWED_MODULES
    from metaagent_sandbox import _child
    from metaagent_sandbox.preload import PROJECT_PACKAGES

    project_root = os.path.dirname(PROJECT_PACKAGES["verl_metaagent"])
    probe = (
        "import sys, types\n"
        f"child = types.ModuleType('_sandbox_child')\nexec(open({_child.__file__!r}).read(), child.__dict__)\n"
        f"child.import_modules({list(_DESIGN_PRELOAD)!r}, {PROJECT_PACKAGES!r})\n"
        "print(sorted(sys.modules))\nprint(sys.path)\n"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    modules, path = (eval(line) for line in out.stdout.splitlines())
    assert {"logging", "threading", "verl_metaagent._lazy_registration", "metaagent_sandbox"}.isdisjoint(modules)
    assert set(ALLOWED_MODULES - {"workflow"}) <= set(modules)
    assert {"verl_metaagent.design.api", "verl_metaagent.design.workflow.nodes"} <= set(modules)
    assert project_root not in path


def test_zygote_dies_with_its_parent():
    code = (
        "import os, sys\n"
        "from metaagent_sandbox import run_python_sync, zygote\n"
        "from metaagent_sandbox import PRELOAD_MODULES as PRELOAD\n"
        "assert run_python_sync('print(1)', mode='zygote').stdout == '1\\n'\n"
        "print(zygote.zygote_pid(PRELOAD), zygote.forker_pid(PRELOAD), flush=True)\n"
        "os._exit(0)\n"  # no clean-up of any kind
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    zpid, fpid = (int(v) for v in out.stdout.split())
    assert _wait_for(lambda: not _alive(zpid) and not _alive(fpid))


def _caller(seen):
    async def caller(request):
        seen.append(request)
        return AgentCallReply(text="ok", prompt_ids=[1], response_ids=[2])

    return caller


def test_a_design_cannot_change_the_next_design_run():
    header = "from verl_metaagent.design.api import *\n"
    polluter = header + (
        "memory['x'] = 'leak'\n"
        "memory.post('leaked note')\n"
        "Agent.ask = lambda self, instruction='': 'patched'\n"
        "finish(Agent('a', 'b').ask())\n"
    )
    probe = header + ("a = Agent('s', 'x')\n"
                      "finish(str(memory.get('x')) + '|' + str(len(transcript())) + '|' + a.ask())\n")

    async def main():
        seen = []
        limits = DesignLimits(wall_seconds=20)
        first = await execute_design(polluter, DesignTask("q"), _caller(seen), limits, sandbox_mode="zygote")
        second = await execute_design(probe, DesignTask("q"), _caller(seen), limits, sandbox_mode="zygote")
        return first, second, seen

    first, second, seen = asyncio.run(main())
    assert (first.status, first.final_answer, first.calls) == ("finished", "patched", [])
    assert (second.status, second.final_answer) == ("finished", "None|0|ok")
    assert len(second.calls) == 1 and len(seen) == 1
    assert zygote_mod.zygote_pid(_DESIGN_PRELOAD) is not None


FORK_UNTIL_REFUSED = (
    "import os, time\n"
    "made = 0\n"
    "for _ in range(200):\n"
    "    try:\n"
    "        if os.fork() == 0:\n"
    "            time.sleep(30)\n"
    "            os._exit(0)\n"
    "    except OSError:\n"
    "        break\n"
    "    made += 1\n"
    "print(made)\n"
)


@pytest.mark.skipif(not active_protections()["process_cap"], reason="needs a per-run process cap")
def test_a_runs_orphans_are_reaped_at_once_so_its_uid_can_fork_again():
    # The storm's sleepers are killed after the run and, orphaned, become the zygote's children (it
    # is a subreaper) instead of init's. Their zombies would count towards the uid's process cap
    # until reaped: the next run of the same (reused) uid could not fork at all.
    lim = SandboxLimits(wall_seconds=10, cpu_seconds=5, memory_mb=256, max_processes=6)
    runs = [run(FORK_UNTIL_REFUSED, limits=lim) for _ in range(4)]
    assert [r.stdout for r in runs] == ["5\n"] * 4
    ticks = now_ticks()
    assert [processes_started_before(r.detail["uid"], ticks, zombies=None) for r in runs] == [[]] * 4


def test_fork_requests_queue_instead_of_blocking_the_coordinator():
    """The coordinator never blocks on a forker that is itself blocked sending to it: requests the
    socket does not take wait, in order, and go out once it is writable."""
    import importlib.util
    import selectors
    import socket

    spec = importlib.util.spec_from_file_location("_zygote_main_under_test", zygote_mod._MAIN)
    main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(main)  # definitions only: the serving code runs under __main__
    coordinator_end, forker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    coordinator_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    forker_end.setblocking(False)  # (socket.recv_fds ignores its flags argument before Python 3.12)
    sel = selectors.DefaultSelector()
    sel.register(coordinator_end, selectors.EVENT_READ, "forker")
    requests = main._ForkRequests(coordinator_end, sel)
    ends, sent = [], 0
    try:
        while not requests.queue:
            a, b = socket.socketpair()
            ends.append((a, b.fileno()))
            requests.ask(b)  # a full socket queues instead of raising or blocking
            sent += 1
            assert sent < 10_000
        assert requests.writing and sel.get_key(coordinator_end).events == selectors.EVENT_READ | selectors.EVENT_WRITE
        queued = len(requests.queue)
        received = []
        while len(received) < sent:
            try:
                _, fds, _, _ = socket.recv_fds(forker_end, 16, 1)
            except BlockingIOError:
                requests.flush()  # what the coordinator does when the selector reports writability
                continue
            received.append(fds[0])
        assert queued >= 1 and not requests.queue and not requests.writing
        assert sel.get_key(coordinator_end).events == selectors.EVENT_READ
        # order kept: the i-th fd received is a copy of the i-th child end asked for
        for fd, (a, _) in zip(received, ends):
            with socket.socket(fileno=fd) as got:
                a.send(b"x")
                assert got.recv(1) == b"x"
    finally:
        for a, _ in ends:
            a.close()
        coordinator_end.close()
        forker_end.close()

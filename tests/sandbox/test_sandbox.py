"""The sandbox itself (no static validation in front of it): each hostile program ends cleanly."""

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from metaagent_sandbox import SandboxLimits, active_protections, run_python, run_python_sync
from metaagent_sandbox.probe import own_proc_possible

from leftovers import now_ticks, processes_started_before

PROT = active_protections()
LIM = SandboxLimits(wall_seconds=5, cpu_seconds=3, memory_mb=256, max_processes=8, max_output_bytes=1 << 16)


def run(src, **kw):
    r = run_python_sync(src, limits=kw.pop("limits", LIM), **kw)
    assert r.detail["mode"] == os.environ["VERL_METAAGENT_SANDBOX_MODE"]  # no silent fallback
    return r


def assert_nothing_left(*results):
    """No process of these runs' uids that started before now is still running."""
    ticks = now_ticks()
    for r in results:
        if r.detail.get("uid") is not None:
            assert processes_started_before(r.detail["uid"], ticks) == [], r


def test_hello_and_stdin():
    r = run("import sys\nprint(sys.stdin.read().upper())", stdin="abc")
    assert (r.status, r.exit_code, r.stdout) == ("ok", 0, "ABC\n")


def test_stdin_far_bigger_than_a_pipe_arrives_whole():
    data = "".join(f"{i}\n" for i in range(700_000))  # ~4.6 MB: fed as the child reads, never blocking the loop
    r = run("import sys, hashlib\nd = sys.stdin.buffer.read()\nprint(len(d), hashlib.sha256(d).hexdigest())",
            stdin=data)
    import hashlib

    assert r.status == "ok", r.stderr
    assert r.stdout.split() == [str(len(data)), hashlib.sha256(data.encode()).hexdigest()]


def test_files_are_in_the_work_dir_and_dir_is_removed():
    r = run("import os\nprint(open('data.txt').read()); print(os.getcwd())", files={"data.txt": "hi"})
    assert r.status == "ok" and r.stdout.startswith("hi\n")
    assert not os.path.exists(r.stdout.split("\n")[1])


def test_stdlib_outside_the_preload_imports_even_from_a_private_python_dir():
    # this host's Python lives under /root (mode 700): after the uid drop only the stdlib dir fds
    # opened before it make these importable; /root itself stays closed
    src = (
        "import csv, tempfile, glob, sqlite3, xml.dom.minidom\n"
        "print(csv.DictReader.__name__, sqlite3.connect(':memory:').execute('select 6*7').fetchone()[0])\n"
        "try:\n    open(os.path.expanduser('~root/.bashrc')); print('read')\nexcept OSError:\n    print('closed')\n"
    )
    r = run("import os\n" + src)
    assert r.status == "ok", r.stderr
    lines = r.stdout.split()
    assert lines[:2] == ["DictReader", "42"]
    if PROT["unprivileged_uid"] and not os.stat("/root").st_mode & 0o005:
        assert lines[2] == "closed"


def test_syntax_error_is_error():
    r = run("x = (\n")
    assert r.status == "error" and "SyntaxError" in r.stderr


def test_env_is_scrubbed():
    os.environ["METAAGENT_TEST_SECRET"] = "hunter2"
    try:
        r = run("import os\nprint(sorted(os.environ.items()))")
    finally:
        del os.environ["METAAGENT_TEST_SECRET"]
    assert r.status == "ok" and "hunter2" not in r.stdout and "METAAGENT_TEST_SECRET" not in r.stdout


def test_parent_environ_unreadable():
    r = run(f"print(open('/proc/{os.getpid()}/environ','rb').read())")
    if PROT["unprivileged_uid"]:
        # the jail's own /proc hides the trainer's process altogether; otherwise it is not ours to read
        expected = "FileNotFoundError" if r.detail["jail"] and own_proc_possible() else "PermissionError"
        assert r.status == "error" and expected in r.stderr, r.stderr


def test_etc_passwd_is_harmless_and_shadow_unreadable():
    r = run("print(len(open('/etc/passwd').read()) > 0)\nopen('/etc/shadow').read()")
    if PROT["unprivileged_uid"]:
        assert r.status == "error" and "PermissionError" in r.stderr


@pytest.mark.skipif(not PROT["unprivileged_uid"], reason="needs root to drop to a sandbox uid")
def test_no_writes_outside_work_dir(tmp_path):
    target = tmp_path / "pwned"
    r = run(f"open({str(target)!r}, 'w').write('x')")
    # without the file-system jail the dir is there but not the run's; in the jail it does not exist
    expected = "FileNotFoundError" if r.detail["jail"] else "PermissionError"
    assert r.status == "error" and expected in r.stderr and not target.exists()
    r = run("open('/etc/pwned', 'w')")
    assert r.status == "error" and not os.path.exists("/etc/pwned")


@pytest.mark.skipif(not PROT["ipc_namespace"], reason="IPC namespaces not permitted here")
def test_system_v_shared_memory_is_private_to_the_run_and_dies_with_it():
    src = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "seen = libc.shmget(0x7E57, 0, 0)\n"  # left by an earlier run? (-1: no)
        "made = libc.shmget(0x7E57, 1 << 20, 0o1666)\n"  # IPC_CREAT | 0666: readable by every uid
        "print(seen, made >= 0)\n"
    )
    first, second = run(src), run(src)
    assert first.stdout.split() == second.stdout.split() == ["-1", "True"], (first.stderr, second.stderr)
    with open("/proc/sysvipc/shm") as f:
        host_keys = [int(line.split()[0]) for line in f.readlines()[1:]]
    assert 0x7E57 not in host_keys  # nothing leaked into the host's namespace


@pytest.mark.skipif(not PROT["network_namespace"], reason="network namespaces not permitted here")
def test_no_network():
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    try:
        r = run(f"import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', {port}))\n"
                "print('connected')")
    finally:
        srv.close()
    assert r.status == "error" and "connected" not in r.stdout


def test_infinite_loop_times_out():
    r = run("while True:\n    pass\n", limits=SandboxLimits(wall_seconds=20, cpu_seconds=1))
    assert (r.status, r.exit_code, r.detail["reason"]) == ("timeout", -signal.SIGXCPU,
                                                           "CPU limit of 1 s reached (SIGXCPU)")


def test_sleep_hits_wall_clock():
    r = run("import time\ntime.sleep(60)", limits=SandboxLimits(wall_seconds=1, cpu_seconds=5))
    assert (r.status, r.detail["reason"]) == ("timeout", "wall-clock limit of 1 s reached")


def test_memory_bomb():
    r = run("x = bytearray(1 << 33)\nprint('allocated')", limits=LIM)
    assert r.status == "error" and "MemoryError" in r.stderr and "allocated" not in r.stdout


def test_recursion_bomb():
    r = run("def f(n):\n    return f(n+1)\nf(0)", limits=LIM)
    assert r.status == "error" and "RecursionError" in r.stderr and r.detail["reason"] == "exit code 1"


def test_recursion_bomb_without_a_depth_limit_ends_at_a_resource_limit():
    """Frames fill the address-space limit; CPython's unwinding after the MemoryError can then take
    longer than the CPU limit (slow machines: the CI's did), so ``timeout`` by SIGXCPU is as right
    as ``error``. What must never happen: ``ok``, the wall clock, or a process left behind. (The wall
    clock is far beyond the CPU limit: a loaded machine gives a process a fraction of a core.)"""
    limits = SandboxLimits(wall_seconds=60, cpu_seconds=3, memory_mb=256, max_processes=8, max_output_bytes=1 << 16)
    r = run("import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n+1)\nf(0)", limits=limits)
    assert r.status in ("error", "killed", "timeout") and r.exit_code not in (0, None), r
    if r.status == "timeout":
        assert r.exit_code == -signal.SIGXCPU and r.detail["reason"].startswith("CPU limit of 3 s")
    assert_nothing_left(r)


def test_huge_output_is_capped():
    r = run("import sys\nfor _ in range(100):\n    sys.stdout.write('x' * (1 << 20))\n", limits=LIM)
    assert r.status == "output_limit" and len(r.stdout) <= LIM.max_output_bytes
    assert r.detail["reason"] == f"more than {LIM.max_output_bytes} bytes on stdout or stderr"


@pytest.mark.skipif(not PROT["process_cap"], reason="process cap needs an unprivileged uid")
def test_fork_storm_is_capped_and_cleaned_up():
    src = (
        "import os, time\n"
        "n = 0\n"
        "for _ in range(200):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            os.setsid()\n"  # try to escape the process group
        "            time.sleep(30)\n"
        "            os._exit(0)\n"
        "        n += 1\n"
        "    except OSError:\n"
        "        break\n"
        "print(n)\n"
    )
    r = run(src, limits=SandboxLimits(wall_seconds=5, cpu_seconds=3, max_processes=8))
    assert r.status == "ok" and int(r.stdout) < 8
    assert_nothing_left(r)


def test_concurrent_runs_are_isolated():
    async def main():
        bad = run_python("while True:\n    pass\n", limits=SandboxLimits(wall_seconds=2, cpu_seconds=1))
        goods = [run_python(f"print({i} * 2)", limits=LIM) for i in range(6)]
        return await asyncio.gather(bad, *goods)

    bad, *goods = asyncio.run(main())
    assert bad.status == "timeout"
    assert [g.stdout for g in goods] == [f"{i * 2}\n" for i in range(6)]
    assert_nothing_left(bad, *goods)


def test_active_protections_values():
    p = active_protections()
    assert p["rlimits"] and p["scrubbed_env"]
    assert set(p) >= {"network_namespace", "unprivileged_uid", "process_cap"}
    if os.geteuid() == 0:
        assert p["unprivileged_uid"] and p["process_cap"]


def test_no_verl_torch_ray_imports():
    code = (
        "import sys, metaagent_sandbox, verl_metaagent.design.runtime, verl_metaagent.design._transport\n"
        "bad = [m for m in ('verl', 'torch', 'ray') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.skipif(not PROT["unprivileged_uid"], reason="uid locks are used only as root")
def test_uid_lock_dir_that_others_can_write_is_refused(tmp_path, monkeypatch):
    from metaagent_sandbox import uids

    shared = tmp_path / "locks"
    shared.mkdir()
    shared.chmod(0o777)  # e.g. re-created by a sandboxed run after a tmp cleaner removed the real one
    monkeypatch.setattr(uids, "LOCK_DIR", str(shared))
    r = run_python_sync("print(1)", limits=LIM)
    assert r.status == "error" and "not a private directory" in r.detail["reason"] and r.stdout == ""


def test_work_root_places_the_work_dir_and_is_removed(tmp_path, monkeypatch):
    from metaagent_sandbox import run_in_sandbox
    from metaagent_sandbox.hostdirs import RUNS_DIR_NAME, memory_work_root, per_user

    root = tmp_path / "root"
    root.mkdir()
    os.chmod(root, 0o1777)
    r = asyncio.run(run_in_sandbox("import os\nprint(os.getcwd())\n", limits=LIM, work_root=str(root)))
    assert r.status == "ok", r.stderr
    # inside the private runs dir of the root (traversable, not listable by runs), removed after
    runs = root / per_user(RUNS_DIR_NAME)
    assert os.path.dirname(r.stdout.strip()) == str(runs) and list(runs.iterdir()) == []
    assert list(root.iterdir()) == [runs] and runs.stat().st_mode & 0o777 == 0o711
    monkeypatch.setenv("VERL_METAAGENT_SANDBOX_WORKDIR", str(root))
    assert memory_work_root() == str(root)
    monkeypatch.setenv("VERL_METAAGENT_SANDBOX_WORKDIR", "")
    assert memory_work_root() is None


@pytest.mark.parametrize(
    "seen, exit_code, expected",
    [
        ("ok", 0, ("ok", "")),
        ("ok", 3, ("error", "exit code 3")),
        ("ok", -signal.SIGXCPU, ("timeout", "CPU limit of 2 s reached (SIGXCPU)")),
        ("ok", -signal.SIGSEGV, ("killed", "killed by SIGSEGV")),
        ("timeout", None, ("timeout", "wall-clock limit of 4.5 s reached")),
        ("output_limit", -signal.SIGKILL, ("output_limit", "more than 100 bytes on stdout or stderr")),
        ("budget_exceeded", -signal.SIGKILL, ("budget_exceeded", "")),  # the serve coroutine gives its own reason
    ],
)
def test_describe_end(seen, exit_code, expected):
    from metaagent_sandbox.limits import describe_end

    limits = SandboxLimits(wall_seconds=4.5, cpu_seconds=2, max_output_bytes=100)
    assert describe_end(seen, exit_code, limits) == expected

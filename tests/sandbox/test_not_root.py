"""The sandbox run by an ordinary user: network and IPC namespaces and the file-system jail
through a user namespace.

Rollout workers on clusters usually run as a non-root user in a container. There the sandbox has no
uid to drop to, but where the kernel allows unprivileged user namespaces it still takes the run off
the network, gives it private IPC and a file-system view without the user's files. The test starts
a Python process as ``nobody`` (uid 65534) with a world-readable copy of the package and asks it to
run hostile probes in both modes.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest

import verl_metaagent
from support.processes import processes_of

from leftovers import PROGRAMS

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a process as another user")

NOBODY = 65534


@pytest.fixture(autouse=True)
def sandbox_mode():
    """The test covers both modes itself (overrides the both-modes fixture of conftest.py)."""
    return None

PROBE = r"""
import ctypes, json, os, socket, sys
port, package = sys.stdin.read().split()
out = {"uid": os.getuid(), "package_visible": os.path.exists(package), "home": os.environ["HOME"] == os.getcwd(),
       "siblings": os.listdir(".."), "own": os.path.basename(os.getcwd()), "shm": os.listdir("/dev/shm"),
       "pid": os.getpid(), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
try:
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=2)
    out["connect"] = "connected"
except OSError as exc:
    out["connect"] = type(exc).__name__
libc = ctypes.CDLL(None, use_errno=True)
out["shm_seen"] = libc.shmget(0x7E58, 0, 0)
out["shm_made"] = libc.shmget(0x7E58, 1 << 16, 0o1666) >= 0
out["caps"] = open("/proc/self/status").read().split("CapEff:")[1].split()[0]
print(json.dumps(out))
"""

# Forks until refused (each child sleeps); prints how many it made.
FORK_STORM = r"""
import os, time
made = 0
for _ in range(500):
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
    except OSError:
        break
    made += 1
print(made)
"""

DRIVER = r"""
import asyncio, json, sys
from verl_metaagent.design import AgentCallReply, DesignLimits, DesignTask, execute_design
from metaagent_sandbox import SandboxLimits, active_protections, run_python
probe, port, package, storm = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
design = "from verl_metaagent.design.api import *\nfinish(Agent('a', 'b').ask())\n"
async def caller(request):
    return AgentCallReply(text="42", prompt_ids=[1], response_ids=[2])
lim = SandboxLimits(wall_seconds=20, cpu_seconds=10, memory_mb=512, max_processes=6)
async def main():
    runs = {}
    for mode in ("zygote", "spawn"):
        r1 = await run_python(probe, stdin=port + " " + package, limits=lim, mode=mode)
        r2 = await run_python(probe, stdin=port + " " + package, limits=lim, mode=mode)
        r3 = await run_python(storm, limits=lim, mode=mode)
        runs[mode] = [[r1.status, r2.status, r3.status], [r1.detail["mode"], r2.detail["mode"], r3.detail["mode"]],
                      r1.stdout, r2.stdout, r3.stdout, r1.stderr[-500:] + r2.stderr[-500:] + r3.stderr[-500:]]
        d = await execute_design(design, DesignTask("q"), caller, DesignLimits(wall_seconds=20), sandbox_mode=mode)
        runs[mode].append([d.status, d.final_answer, d.reason])
    return runs
print(json.dumps({"protections": active_protections(), "runs": asyncio.run(main())}))
"""


# Run as root, then becomes uid 65534 and execs the same interpreter with the given arguments. Where
# the interpreter lives under a private /root (pyenv here), it first shows that one tree to the
# new user in a private mount namespace: a 0755 tmpfs over /root with the tree bound back in.
LAUNCHER = r"""
import ctypes, os, sys, tempfile
libc = ctypes.CDLL(None, use_errno=True)
real = os.path.realpath(sys.executable)
if real.startswith("/root/"):
    MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
    top = "/root/" + real.split("/")[2]
    stash = tempfile.mkdtemp()
    ok = libc.unshare(0x00020000) == 0 and libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0
    ok = ok and libc.mount(top.encode(), stash.encode(), None, MS_BIND | MS_REC, None) == 0
    ok = ok and libc.mount(b"tmpfs", b"/root", b"tmpfs", 0, b"mode=0755") == 0
    if not ok:
        sys.exit("mount namespace set-up failed: errno %d" % ctypes.get_errno())
    os.mkdir(top)
    if libc.mount(stash.encode(), top.encode(), None, MS_BIND | MS_REC, None) != 0:
        sys.exit("bind mount failed: errno %d" % ctypes.get_errno())
os.setgroups([])
os.setgid(NOBODY_UID)
os.setuid(NOBODY_UID)
os.execv(real, [real] + sys.argv[1:])  # not a venv link: it may sit in a dir only root can enter
""".replace("NOBODY_UID", str(NOBODY))


def _run_as_nobody(args, env, timeout):
    return subprocess.run([sys.executable, "-c", LAUNCHER, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _copy_readable(src, dst):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    for dirpath, dirs, files in os.walk(dst):
        for d in dirs:
            os.chmod(os.path.join(dirpath, d), 0o755)
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o644)


@pytest.fixture
def readable_package():
    """A copy of the packages that uid 65534 can import (the checkout may sit in a private dir):
    the plugin, the sandbox, ``reward_fns`` (the design API uses its answers module) and the tests'
    ``support`` helpers."""
    root = tempfile.mkdtemp(prefix="vm_nobody_")
    os.chmod(root, 0o755)
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(verl_metaagent.__file__)))
    for package in ("verl_metaagent", "metaagent_sandbox", "reward_fns", "tests/support"):
        _copy_readable(os.path.join(checkout, package), os.path.join(root, os.path.basename(package)))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_an_ordinary_user_gets_network_ipc_and_file_system_isolation(readable_package):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": readable_package, "HOME": "/nonexistent", "TMPDIR": "/tmp"}
    check = _run_as_nobody(["-c", "import os, metaagent_sandbox; assert os.getuid() == %d" % NOBODY], env, 60)
    if check.returncode != 0:
        pytest.skip(f"this interpreter is not usable by uid {NOBODY}: {check.stderr[-300:]}")
    userns = _run_as_nobody(["-c", "import ctypes; assert ctypes.CDLL(None).unshare(0x10000000) == 0"], env, 60)
    if userns.returncode != 0:
        pytest.skip("this kernel does not allow unprivileged user namespaces")

    with socket.socket() as listener:  # reachable from the host's network namespace only
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = str(listener.getsockname()[1])
        done = _run_as_nobody(["-c", DRIVER, PROBE, port, readable_package, FORK_STORM], env, 300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    prot = report["protections"]
    assert prot["user_namespace"] and prot["network_namespace"] and prot["ipc_namespace"] and prot["file_system_jail"]
    assert not prot["unprivileged_uid"] and prot["process_cap"]  # this kernel is >= 5.14
    for mode, (status, ran, first, second, storm, stderr, design) in report["runs"].items():
        # a design execution runs too (its work dir in /dev/shm, bound into the private /dev/shm)
        assert design[:2] == ["finished", "42"], design
        assert (status, ran) == (["ok", "ok", "ok"], [mode, mode, mode]), (mode, status, storm, stderr)
        # the cap counts the run's own processes only (not nobody's others, e.g. the driver): 6 = it + 5
        assert storm == "5\n", storm
        a, b = json.loads(first), json.loads(second)
        assert a["connect"] != "connected" and b["connect"] != "connected"  # no network at all
        assert a["shm_seen"] == b["shm_seen"] == -1 and a["shm_made"] and b["shm_made"]  # private IPC
        assert int(a["caps"], 16) == 0  # the user namespace's capabilities are dropped
        assert a["uid"] == NOBODY and a["home"]  # own ids mapped to themselves; the work dir is home
        # the jail: the package the driver imports from, world-readable on the host, is not there
        assert not a["package_visible"] and not b["package_visible"]
        # all runs share the uid: each sees its own work dir only (not the runs dir's other entries)
        # and an empty /dev/shm of its own
        assert (a["siblings"], b["siblings"]) == ([a["own"]], [b["own"]]) and a["shm"] == b["shm"] == []
        # its own pid namespace, with a /proc of its own: only its init (pid 1) and itself are there
        assert prot["pid_namespace"] and (a["pid"], a["pids"]) == (2, [1, 2]), (a["pid"], a["pids"][:20])
    assert processes_of({NOBODY}) == []  # the storms' sleepers died with their runs, in both modes
    with open("/proc/sysvipc/shm") as f:
        assert 0x7E58 not in [int(line.split()[0]) for line in f.readlines()[1:]]


@pytest.mark.slow
def test_the_hostile_battery_passes_as_an_ordinary_user(readable_package):
    """tests/sandbox/test_sandbox.py and tests/design_runtime, run by uid 65534 (both modes): every
    hostile program and design ends with the right status through the user-namespace layers."""
    import importlib

    here = os.path.dirname(os.path.abspath(__file__))
    tests = os.path.join(readable_package, "tests")
    _copy_readable(here, os.path.join(tests, "sandbox"))
    for name in ("design_runtime", "fixtures"):  # fixtures: data files the design runtime tests read
        _copy_readable(os.path.join(os.path.dirname(here), name), os.path.join(tests, name))
    for name in ("pytest", "_pytest", "pluggy", "iniconfig", "packaging"):  # pytest, readable by nobody
        mod = importlib.import_module(name)
        src = os.path.dirname(mod.__file__)
        _copy_readable(src, os.path.join(readable_package, os.path.basename(src)))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": readable_package, "HOME": "/nonexistent", "TMPDIR": "/tmp"}
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", readable_package,
            os.path.join(tests, "sandbox", "test_sandbox.py"), os.path.join(tests, "design_runtime")]
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *args], env=env, capture_output=True, text=True,
                          timeout=900, cwd=readable_package)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary, summary


# Runs each leftover program twice per mode with a CPU hog beside it; after each run, lists the
# processes of this user that appeared during it and still run (the zygote's two processes and the
# hog excepted).
LEFTOVER_DRIVER = r"""
import asyncio, json, os, subprocess, sys
from metaagent_sandbox import PRELOAD_MODULES, SandboxLimits, run_python, zygote
programs = json.loads(sys.argv[1])
def running():
    mine = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = dict(line.split(":", 1) for line in open("/proc/%s/status" % pid) if ":" in line)
        except OSError:
            continue
        if int(fields["Uid"].split()[0]) == os.getuid() and not fields["State"].strip().startswith("Z"):
            mine.add(int(pid))
    return mine
async def main():
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    out = []
    try:
        for mode in ("zygote", "spawn"):
            for name, program in sorted(programs.items()):
                for _ in range(2):
                    before = running()
                    limits = SandboxLimits(wall_seconds=20, memory_mb=512, max_processes=16)
                    r = await run_python(program, limits=limits, mode=mode)
                    left = running() - before - {zygote.zygote_pid(PRELOAD_MODULES), zygote.forker_pid(PRELOAD_MODULES)}
                    out.append([mode, name, r.status, r.stdout, r.detail["mode"], sorted(left)])
    finally:
        hog.kill()
    print(json.dumps(out))
asyncio.run(main())
"""


def test_as_an_ordinary_user_no_process_outlives_its_run(readable_package):
    """Not root, a run's processes live in its own pid namespace: when its init ends, the kernel
    kills them all, before the run is reported over."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": readable_package, "HOME": "/nonexistent", "TMPDIR": "/tmp"}
    has_pid_namespace = "from metaagent_sandbox import active_protections as a; assert a()['pid_namespace']"
    check = _run_as_nobody(["-c", has_pid_namespace], env, 60)
    if check.returncode != 0:
        pytest.skip(f"no pid namespace for uid {NOBODY} here: {check.stderr[-300:]}")
    done = _run_as_nobody(["-c", LEFTOVER_DRIVER, json.dumps(PROGRAMS)], env, 300)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(runs) == 2 * 2 * len(PROGRAMS)
    for mode, name, status, stdout, ran, left in runs:
        assert (status, stdout, ran, left) == ("ok", "forked\n", mode, []), (mode, name)

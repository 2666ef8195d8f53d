"""Trying to run code before the sandbox's privilege drop: every way in runs after it, or is refused.

The sandbox composes setup, isolation and the drop itself (``_child.run``); a caller gives a
program and data. These tests are what a careless (or hostile) caller would try.
"""

import asyncio
import json
import os
import stat

import pytest

import metaagent_sandbox as sandbox
from metaagent_sandbox import SandboxLimits, active_protections, run_in_sandbox, run_python, run_python_sync
from metaagent_sandbox.process import PROGRAM_FILE
from metaagent_sandbox.uids import is_sandbox_uid

PROT = active_protections()
LIM = SandboxLimits(wall_seconds=20, cpu_seconds=10, memory_mb=256, max_processes=8, max_output_bytes=1 << 16)

# The program's very first statement looks at who it is: uid, capabilities, no_new_privs, network
# interfaces, and whether a root-owned, root-only directory of the host is readable.
FIRST_STATEMENT = r"""
import json, os, socket, sys; status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({
    "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
    "cap_eff": int(status["CapEff"], 16), "cap_prm": int(status["CapPrm"], 16),
    "no_new_privs": int(status["NoNewPrivs"]),
    "interfaces": sorted(name for _, name in socket.if_nameindex()),
    "argv": sys.argv, "marker": os.environ.get("SANDBOX_TEST_MARKER"),
}))
"""


def _who(result):
    assert result.status == "ok", (result.status, result.stderr[-2000:])
    return json.loads(result.stdout)


def _assert_dropped(who):
    """What the program's first statement saw: no privilege of the parent at all."""
    assert who["cap_eff"] == 0 and who["cap_prm"] == 0  # no capability, effective or permitted
    assert who["no_new_privs"] == 1  # a setuid binary gains nothing either
    if PROT["unprivileged_uid"]:
        assert is_sandbox_uid(who["uid"]) and who["uid"] == who["euid"] == who["gid"]
    if PROT["network_namespace"]:
        assert who["interfaces"] == ["lo"]  # an empty network namespace


@pytest.mark.parametrize("entry", ["run_in_sandbox", "run_python", "run_python_sync"])
def test_the_first_statement_of_every_entry_point_runs_after_the_drop(entry):
    if entry == "run_in_sandbox":
        r = asyncio.run(run_in_sandbox(FIRST_STATEMENT, limits=LIM))
    elif entry == "run_python":
        r = asyncio.run(run_python(FIRST_STATEMENT, limits=LIM))
    else:
        r = run_python_sync(FIRST_STATEMENT, limits=LIM)
    assert r.detail["mode"] == os.environ["VERL_METAAGENT_SANDBOX_MODE"]
    _assert_dropped(_who(r))


def test_no_drop_sequence_or_boot_prelude_is_exported():
    """Nothing a caller could splice into code of its own, or run first."""
    for name in ("DROP_PRIVILEGES", "PRELUDE", "PRELOAD"):
        assert not hasattr(sandbox, name)
        assert not hasattr(sandbox.process, name)


def test_boot_code_in_the_old_call_shape_is_refused():
    """``run_in_sandbox(boot, boot_args)`` (boot code run as root until it dropped) is a TypeError:
    everything after the program is keyword-only data."""
    with pytest.raises(TypeError):
        asyncio.run(run_in_sandbox("import os\nos.setuid(0)\n", {}, limits=LIM))
    with pytest.raises(TypeError, match="program must be Python source"):
        asyncio.run(run_in_sandbox(compile("print(1)", "x", "exec"), limits=LIM))


@pytest.mark.parametrize(
    "preload, error, match",
    [
        ("import os; os.system('id')", TypeError, "not a string"),
        (("os; import shutil",), ValueError, "not a module name"),
        (("__import__('os')",), ValueError, "not a module name"),
        (("evil",), ValueError, "neither a standard-library module"),  # e.g. a file the caller writes to the work dir
        (("antigravity",), ValueError, "neither a standard-library module"),  # stdlib, but importing it acts
    ],
)
def test_code_passed_as_preload_is_refused_before_anything_runs(preload, error, match, tmp_path):
    with pytest.raises(error, match=match):
        asyncio.run(run_in_sandbox("print(1)", preload=preload, files={"evil.py": "raise SystemExit(7)\n"}, limits=LIM))


def test_a_work_dir_module_of_a_preload_name_is_not_what_gets_imported():
    """A stdlib name in the preload resolves in the standard library, never in the work dir the
    caller filled (the child's sys.path has no '' or work dir entry)."""
    r = asyncio.run(run_in_sandbox("import textwrap\nprint(textwrap.__file__)\n", preload=("textwrap",),
                                   files={"textwrap.py": "import os\nos.system('touch /tmp/pwned_by_preload')\n"},
                                   limits=LIM))
    assert r.status == "ok", r.stderr
    assert r.stdout.strip().endswith("/textwrap.py") and "vmsbx_" not in r.stdout
    assert not os.path.exists("/tmp/pwned_by_preload")


def test_extra_env_is_set_after_the_drop():
    """A loader variable acts on processes the program starts, never on the child itself: were it
    in the child's environment at exec, the loader would complain on the run's own stderr."""
    program = FIRST_STATEMENT + (
        "import subprocess\n"
        "later = subprocess.run([sys.executable, '-c', 'pass'], capture_output=True, text=True).stderr\n"
        "print(json.dumps({'later': 'LD_PRELOAD' in later}))\n"
    )
    r = asyncio.run(run_in_sandbox(program, limits=LIM, extra_env={
        "SANDBOX_TEST_MARKER": "set", "LD_PRELOAD": "/nonexistent/hook.so"}))
    assert r.status == "ok", r.stderr
    first, later = (json.loads(line) for line in r.stdout.splitlines())
    assert first["marker"] == "set" and later == {"later": True}  # set for the program and what it starts
    assert "LD_PRELOAD" not in r.stderr  # but the child itself never started with it
    _assert_dropped(first)


def test_argv_is_data_for_the_program_and_cannot_change_the_spec():
    spec_like = json.dumps({"uid": None, "userns": False, "jail": None, "netns": False})
    r = asyncio.run(run_in_sandbox(FIRST_STATEMENT, argv=[spec_like, "--uid", "0"], limits=LIM))
    who = _who(r)
    assert who["argv"] == ["main", spec_like, "--uid", "0"]
    _assert_dropped(who)


@pytest.mark.parametrize(
    "name", ["../escape.txt", "/tmp/abs.txt", "a/../../escape.txt", PROGRAM_FILE, "./" + PROGRAM_FILE, ""]
)
def test_files_cannot_leave_the_work_dir_or_replace_the_program(name):
    with pytest.raises(ValueError, match="relative path inside the work dir"):
        asyncio.run(run_in_sandbox("print(1)", files={name: "x"}, limits=LIM))


@pytest.mark.skipif(not PROT["unprivileged_uid"], reason="needs root to drop to a sandbox uid")
def test_the_program_cannot_take_root_back():
    src = (
        "import os\n"
        "calls = (lambda: os.setuid(0), lambda: os.setresuid(0, 0, 0),\n"
        "         lambda: os.setgroups([0]), lambda: os.chroot('/'))\n"
        "for call in calls:\n"
        "    try:\n        call()\n        print('regained')\n    except PermissionError:\n        print('refused')\n"
    )
    r = run_python_sync(src, limits=LIM)
    assert (r.status, r.stdout.split()) == ("ok", ["refused"] * 4), r.stderr


def test_the_program_file_is_the_runs_own():
    """The program is read from the work dir after the drop, as the run's uid (it owns the file)."""
    src = f"import os\nst = os.stat({PROGRAM_FILE!r})\nprint(st.st_uid == os.getuid(), oct(st.st_mode & 0o777))"
    r = run_python_sync(src, limits=LIM)
    assert r.status == "ok", r.stderr
    assert r.stdout.split()[0] == "True"
    assert not (int(r.stdout.split()[1], 8) & stat.S_IWOTH)

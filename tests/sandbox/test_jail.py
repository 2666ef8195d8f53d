"""The file-system jail: a run sees the system and the interpreter, not the job's files."""

import os
import shutil
import stat

import pytest

from metaagent_sandbox import PRELOAD_MODULES, SandboxLimits, active_protections, run_python_sync
from metaagent_sandbox import probe
from metaagent_sandbox.jail import forget_jail_specs, interpreter_links, jail_paths
from metaagent_sandbox.probe import own_proc_possible

PROT = active_protections()
LIM = SandboxLimits(wall_seconds=10, cpu_seconds=5, memory_mb=256, max_processes=8, max_output_bytes=1 << 16)
needs_jail = pytest.mark.skipif(not PROT["file_system_jail"], reason="the jail needs root and mount namespaces")


@pytest.fixture
def secret(tmp_path):
    """A world-readable file in a world-traversable dir: any uid may read it on the host."""
    os.chmod(tmp_path, 0o755)
    for parent in tmp_path.parents:  # pytest's base dir is private to its user; open the path up
        if str(parent).startswith("/tmp/pytest-of-"):
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IXOTH)
    path = tmp_path / "reference_answers.jsonl"
    path.write_text('{"answer": 42}\n')
    os.chmod(path, 0o644)
    return str(path)


def run(src, **kw):
    r = run_python_sync(src, limits=LIM, **kw)
    assert r.detail["mode"] == os.environ["VERL_METAAGENT_SANDBOX_MODE"]  # no silent fallback
    return r


@needs_jail
def test_a_world_readable_job_file_is_absent_in_the_jail(secret):
    r = run(f"print(open({secret!r}).read())")
    assert r.detail["jail"] is True
    assert r.status == "error" and "FileNotFoundError" in r.stderr, r.stderr
    assert "42" not in r.stdout


@needs_jail
def test_without_the_jail_the_same_file_is_readable(secret, monkeypatch):
    # the control: proves the test above is about the jail and not about permissions
    monkeypatch.setitem(probe._FOUND, "jail", False)
    r = run(f"print(open({secret!r}).read())")
    assert (r.status, r.detail["jail"], r.stdout) == ("ok", False, '{"answer": 42}\n\n')


@needs_jail
def test_the_jail_shows_the_system_and_the_interpreter_only():
    src = (
        "import os, sys, sqlite3, decimal, email.mime.text, json\n"  # stdlib outside the preload imports
        "print(json.dumps({'root': sorted(os.listdir('/')), 'tmp': os.listdir('/tmp'),\n"
        "    'usr': os.path.isdir('/usr/lib'), 'cwd': os.getcwd(), 'home': os.environ['HOME'],\n"
        "    'sql': sqlite3.connect(':memory:').execute('select 6*7').fetchone()[0]}))\n"
        "open('here.txt', 'w').write('ok')\n"
        "for place in ('/tmp/x', '/x', '/var/tmp/x'):\n"
        "    try:\n"
        "        open(place, 'w')\n"
        "        print('WROTE', place)\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__, place)\n"
    )
    r = run(src)
    assert r.status == "ok", r.stderr
    import json

    lines = r.stdout.splitlines()
    seen = json.loads(lines[0])
    # /tmp holds only the runs dir (when work dirs are made there) and, for a venv under /tmp, the
    # path to its python link; read-only around them
    venv_link = {p.split("/")[2] for p in interpreter_links() if p.startswith("/tmp/")}
    assert seen["sql"] == 42 and seen["usr"] and set(seen["tmp"]) <= {"verl_metaagent_sandbox_runs"} | venv_link
    assert seen["cwd"] == seen["home"]  # the work dir is inside the jail, at its host path
    top = {p.split("/")[1] for p in jail_paths([os.path.dirname(seen["cwd"])]) + list(interpreter_links())}
    assert set(seen["root"]) == top | {"tmp", "var"}
    assert not any(line.startswith("WROTE") for line in lines[1:])
    assert len(lines) == 4  # three refused writes (read-only file system or no permission)


@needs_jail
def test_the_project_and_its_venv_are_not_visible():
    import sys

    project = os.path.dirname(os.path.dirname(os.path.abspath(probe.__file__)))
    src = (
        "import os, subprocess, sys\n"
        "seen = sorted(os.path.join(d, f) for d, _, fs in os.walk(%r) for f in fs)\n"
        "out = subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True, text=True).stdout\n"
        "print(seen, os.path.exists('/home'), out.strip())\n" % project
    )
    r = run(src)
    assert r.status == "ok", r.stderr
    # nothing of the checkout but, in a venv, the link that keeps sys.executable runnable
    links = [sys.executable] if sys.executable.startswith(project + "/") and os.path.islink(sys.executable) else []
    assert r.stdout == f"{links} False 42\n"


@needs_jail
def test_a_runs_dir_deleted_and_made_again_is_bound_anew(sandbox_mode):
    from metaagent_sandbox import zygote as zygote_mod
    from metaagent_sandbox.hostdirs import runs_dir

    assert run("print(1)").stdout == "1\n"
    before = zygote_mod.zygote_pid(PRELOAD_MODULES)
    old = runs_dir(None)
    os.rename(old, old + ".gone")  # a temp cleaner between two batches (the new one is made anew)
    shutil.rmtree(old + ".gone")
    r = run("import os\nprint(os.getcwd() == os.environ['HOME'])")
    assert (r.status, r.stdout, r.detail["jail"]) == ("ok", "True\n", True), r.stderr
    if sandbox_mode == "zygote":  # the zygote that bound the old dir was replaced
        assert zygote_mod.zygote_pid(PRELOAD_MODULES) not in (None, before)


@needs_jail
@pytest.mark.skipif(not own_proc_possible(), reason="needs root and Linux >= 5.8 for a private hidepid proc")
def test_proc_shows_the_run_its_own_processes_only():
    src = (
        "import os, subprocess, sys\n"
        "kid = subprocess.Popen([sys.executable, '-c', 'print(1, flush=True); import time; time.sleep(30)'],\n"
        "                       stdout=subprocess.PIPE)\n"
        "kid.stdout.readline()  # running: past its exec\n"
        "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "print(sorted({os.stat('/proc/%d' % p).st_uid for p in pids}), os.getpid() in pids, kid.pid in pids, "
        "os.getuid())\n"
        "kid.kill()\n"
    )
    r = run(src)
    assert r.status == "ok", r.stderr
    uids, me, kid, uid = r.stdout.split("] ")[0] + "]", *r.stdout.split("] ")[1].split()
    assert (me, kid) == ("True", "True"), r.stdout + r.stderr  # its own processes are there
    assert uids == f"[{uid}]"  # and nobody else's: not the trainer's, not pid 1, not other runs'
    assert str(os.getpid()) not in r.stdout


@needs_jail
def test_the_run_cannot_leave_the_jail():
    src = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "out = []\n"
        "try:\n"
        "    os.chroot('/tmp')\n"  # the classic escape needs CAP_SYS_CHROOT
        "    out.append('chroot')\n"
        "except PermissionError:\n"
        "    out.append('no-chroot')\n"
        # a chrooted process may not make one
        "out.append('no-userns' if libc.unshare(0x10000000) != 0 else 'userns')\n"
        "out.append('no-mountns' if libc.unshare(0x00020000) != 0 else 'mountns')\n"
        "d = os.open('/', os.O_RDONLY)\n"
        "os.chdir('/'); os.chdir('..'); os.chdir('..')\n"
        "out.append(str(sorted(os.listdir('.')) == sorted(os.listdir(d))))\n"  # '..' of the root is the root
        "print(' '.join(out))\n"
    )
    r = run(src)
    assert (r.status, r.stdout) == ("ok", "no-chroot no-userns no-mountns True\n"), r.stderr


@pytest.fixture
def fresh_jail_specs():
    """Forget cached jail specs before and after (the next run then builds the jail anew)."""
    forget_jail_specs()
    yield
    forget_jail_specs()


@needs_jail
def test_extra_paths_are_shown_and_bad_ones_are_refused(secret, monkeypatch, fresh_jail_specs):
    from metaagent_sandbox.jail import extra_jail_paths
    from metaagent_sandbox.settings import JAIL_PATHS_ENV

    monkeypatch.setenv(JAIL_PATHS_ENV, os.path.dirname(secret))
    r = run(f"print(open({secret!r}).read())")
    assert (r.status, r.stdout, r.detail["jail"]) == ("ok", '{"answer": 42}\n\n', True), r.stderr
    for bad, why in (("/", "whole host"), ("relative/dir", "absolute"), ("/no/such/dir", "existing")):
        monkeypatch.setenv(JAIL_PATHS_ENV, bad)
        with pytest.raises(ValueError, match=JAIL_PATHS_ENV + ".*" + why):
            extra_jail_paths()
    monkeypatch.delenv(JAIL_PATHS_ENV)
    forget_jail_specs()
    assert "FileNotFoundError" in run(f"open({secret!r})").stderr  # gone again without the variable

"""No process outlives its run, also on a loaded machine.

A run returns only once every process of its uid is gone; a process that is dead but not yet
reaped (a zombie) may remain only while its uid is quarantined, i.e. no run can be handed the uid.
Each program below leaves descendants that try to survive: new sessions (out of the group kill),
ignored signals, non-dumpable processes, a chain that keeps forking, a big address space that takes
a while to tear down, pipes held open or closed. A CPU hog runs beside every test, so killed
processes wait for the CPU before they can die.
"""

import subprocess
import sys

import pytest

from metaagent_sandbox import SandboxLimits, active_protections, run_python_sync

from leftovers import PROGRAMS, now_ticks, processes_started_before, uid_is_held

PROT = active_protections()
pytestmark = pytest.mark.skipif(not PROT["unprivileged_uid"], reason="as root every run has a uid of its own to check")

LIM = SandboxLimits(wall_seconds=20, cpu_seconds=10, memory_mb=512, max_processes=16, max_output_bytes=1 << 16)

@pytest.fixture
def cpu_hog():
    """One busy process beside the test, for its duration."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield hog
    hog.kill()
    hog.wait()


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_a_run_returns_only_when_its_uid_has_no_process_left(program, cpu_hog, sandbox_mode):
    for _ in range(2):
        r = run_python_sync(PROGRAMS[program], limits=LIM)
        returned = now_ticks()
        assert (r.status, r.stdout, r.detail["mode"]) == ("ok", "forked\n", sandbox_mode), r.stderr[-2000:]
        uid = r.detail["uid"]
        assert processes_started_before(uid, returned) == []  # nothing of the run still runs
        if processes_started_before(uid, returned, zombies=True):
            assert uid_is_held(uid)  # a dead one nobody reaped yet: the uid is quarantined


def test_a_quarantined_uid_is_released_once_it_is_empty_and_never_handed_out_before():
    """A uid that still has a process is held by the sweeper (no run can claim it), which kills
    what it finds on each recheck and releases the uid once nothing of it is left."""
    import time

    from metaagent_sandbox.cleanup import Sweeper
    from metaagent_sandbox.uids import claim_uid, release_uid, uid_was_left_clean

    uid, fd = claim_uid()
    uid_was_left_clean(fd)
    code = f"import os, time; os.setgid({uid}); os.setuid({uid}); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code])  # our child: a zombie until we reap it
    try:
        while not processes_started_before(uid, now_ticks() + 1):
            assert child.poll() is None
            time.sleep(0.01)
        sweeper = Sweeper()
        sweeper.quarantine(uid, fd)
        assert uid_is_held(uid) and sweeper.quarantined() == {uid}
        others = [claim_uid() for _ in range(3)]
        for other, other_fd in others:
            release_uid(other_fd, True, other)
        assert uid not in [other for other, _ in others]  # meanwhile runs get other uids
        assert child.wait(timeout=30) == -9  # the recheck killed it
        for _ in range(200):
            if not sweeper.quarantined():
                break
            time.sleep(0.05)
        assert sweeper.quarantined() == set() and not uid_is_held(uid)
    finally:
        child.kill()
        child.wait()

"""Clean-up after runs: shared temp dirs are listed only when something may have changed in them."""

import os
import time

import pytest

from metaagent_sandbox import cleanup
from metaagent_sandbox.uids import UID_BASE

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create files of sandbox uids")
RUN_UID, OTHER_UID = UID_BASE + 7, UID_BASE + 8


def _plant(directory, name, uid):
    path = directory / name
    path.write_text("x")
    os.chown(path, uid, uid)
    return path


def _plant_changing_ctime(directory, name, uid):
    """Plant an entry, making sure the directory's ctime moved (coarse clocks tick every few ms)."""
    before = os.lstat(directory).st_ctime_ns
    path = _plant(directory, name, uid)
    while os.lstat(directory).st_ctime_ns == before:
        time.sleep(0.01)
        os.rename(path, directory / "moved")
        os.rename(directory / "moved", path)
    return path


@pytest.fixture
def shared(tmp_path, monkeypatch):
    monkeypatch.setattr(cleanup, "_QUIET_AGE_NS", 0)  # no need to wait a second for a quiet ctime
    d = tmp_path / "tmp"
    d.mkdir()
    _plant(d, "not-a-sandbox-file", 0)
    return d


def test_removes_the_run_uids_top_level_entries_only(shared):
    mine = _plant(shared, "mine", RUN_UID)
    (shared / "mydir").mkdir()
    _plant(shared / "mydir", "inner", RUN_UID)
    os.chown(shared / "mydir", RUN_UID, RUN_UID)
    theirs = _plant(shared, "theirs", OTHER_UID)
    cleanup.SharedTmpCleaner((str(shared),)).remove({RUN_UID})
    assert sorted(p.name for p in shared.iterdir()) == ["not-a-sandbox-file", "theirs"]
    assert not mine.exists() and theirs.exists()


def test_a_quiet_dir_is_not_listed_again_until_its_ctime_changes(shared):
    cleaner = cleanup.SharedTmpCleaner((str(shared),))
    cleaner.remove({RUN_UID})
    cleaner.remove({RUN_UID})
    cleaner.remove({OTHER_UID})
    assert cleaner.scans == 1  # nothing of any sandbox uid, nothing changed: one listing served all
    planted = _plant_changing_ctime(shared, "late", RUN_UID)  # creating an entry changes the dir's ctime
    cleaner.remove({RUN_UID})
    assert cleaner.scans == 2 and not planted.exists()
    cleaner.remove({RUN_UID})  # our own removal changed the ctime again: one more look, then quiet
    cleaner.remove({RUN_UID})
    assert cleaner.scans == 3


def test_another_runs_file_keeps_the_dir_under_watch(shared):
    cleaner = cleanup.SharedTmpCleaner((str(shared),))
    theirs = _plant(shared, "theirs", OTHER_UID)
    cleaner.remove({RUN_UID})
    cleaner.remove({RUN_UID})
    assert cleaner.scans == 2 and theirs.exists()  # not memoized while a sandbox entry is present
    cleaner.remove({OTHER_UID})
    assert not theirs.exists()


def test_a_recent_ctime_is_never_memoized(shared, monkeypatch):
    monkeypatch.setattr(cleanup, "_QUIET_AGE_NS", 3600 * 10**9)
    cleaner = cleanup.SharedTmpCleaner((str(shared),))
    cleaner.remove({RUN_UID})
    cleaner.remove({RUN_UID})
    assert cleaner.scans == 2


def test_kill_uids_reports_an_empty_uid_at_once():
    assert cleanup.kill_uids({UID_BASE + 2000}) == set()


def _process_of(uid):
    """A sleeping child of this process running as ``uid`` (a zombie once killed, until we reap it)."""
    import subprocess
    import sys

    from leftovers import now_ticks, processes_started_before

    code = f"import os, time; os.setgid({uid}); os.setuid({uid}); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code])
    while not processes_started_before(uid, now_ticks() + 1):
        assert child.poll() is None
        time.sleep(0.01)
    return child


@pytest.fixture
def sandbox_mode():
    """Plain functions and one run each (overrides the both-modes fixture of conftest.py)."""
    return None


def test_kill_uids_kills_and_reports_a_uid_whose_zombie_nobody_reaps():
    child = _process_of(RUN_UID)
    try:
        assert cleanup.kill_uids({RUN_UID}, zombie_wait=0.05) == {RUN_UID}  # dead, but not reaped
        assert child.wait(timeout=10) == -9
        assert cleanup.kill_uids({RUN_UID}) == set()  # reaped: gone
    finally:
        child.kill()
        child.wait()


def test_a_uid_left_in_use_that_a_sweep_cannot_empty_is_quarantined_and_another_taken(monkeypatch):
    """A crashed parent left a uid marked in use with a process (here: a zombie of ours, which no
    sweep can reap): the next run sweeps it, quarantines it and runs under another uid."""
    from metaagent_sandbox import process, run_python_sync, uids

    uid, fd = uids.claim_uid()
    os.pwrite(fd, b"inuse", 0)
    uids.release_uid(fd)  # as a crashed parent leaves it
    child = _process_of(uid)
    real_claim, claims = uids.claim_uid, []

    def claim_that_uid_first():
        claims.append(real_claim() if claims else (uid, uids._try_lock(uid)))
        return claims[-1]

    monkeypatch.setattr(process, "claim_uid", claim_that_uid_first)
    try:
        r = run_python_sync("print(1)")
        assert (r.status, r.stdout) == ("ok", "1\n") and [c[0] for c in claims][0] == uid
        assert r.detail["uid"] not in (None, uid) and uid in cleanup.sweeper().quarantined()
        child.wait(timeout=10)  # reaped now: the quarantine lets the uid go at a recheck
        deadline = time.monotonic() + 10
        while uid in cleanup.sweeper().quarantined() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert uid not in cleanup.sweeper().quarantined()
    finally:
        child.kill()
        child.wait()

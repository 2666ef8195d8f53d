"""Clean-up after runs: shared temp dirs are listed only when something may have changed in them."""

import os
import time

import pytest

from verl_metaagent.sandbox import cleanup
from verl_metaagent.sandbox.uids import UID_BASE

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

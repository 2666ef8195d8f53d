"""check_in_child: a kernel probe runs in a child, and only a true answer is True."""

import os
import time

from metaagent_sandbox.probe import check_in_child


def test_the_childs_answer_is_returned():
    assert check_in_child(lambda: True) is True
    assert check_in_child(lambda: False) is False
    assert check_in_child(lambda: 1 / 0) is False  # an exception is a "no"


def test_the_probe_cannot_change_the_caller():
    before = os.getcwd()
    assert check_in_child(lambda: os.chdir("/") is None) is True
    assert os.getcwd() == before


def test_a_probe_that_never_answers_is_killed_and_counts_as_no():
    def hang():
        time.sleep(600)
        return True

    assert check_in_child(hang, timeout=0.3) is False


def test_kernel_version_comparison(monkeypatch):
    from metaagent_sandbox import probe

    class Uname:
        release = "5.14.0-362.el9.x86_64"

    monkeypatch.setattr(probe.os, "uname", lambda: Uname)
    assert probe.kernel_at_least(5, 14) and probe.kernel_at_least(5, 8) and probe.kernel_at_least(4, 20)
    assert not probe.kernel_at_least(5, 15) and not probe.kernel_at_least(6, 0)
    Uname.release = "garbled"
    assert not probe.kernel_at_least(1, 0)

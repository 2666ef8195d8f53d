"""The helper the no-leftovers assertions rely on must see running processes and zombies apart."""

import os
import signal
import subprocess
import sys

from support.processes import processes_of


def test_processes_of_tells_running_from_zombie():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        me = {os.getuid()}
        assert child.pid in processes_of(me) and child.pid not in processes_of(me, zombies=True)
        os.kill(child.pid, signal.SIGKILL)
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped: a zombie
        assert child.pid in processes_of(me, zombies=True) and child.pid not in processes_of(me)
        assert child.pid in processes_of(me, zombies=None)
        assert child.pid not in processes_of({os.getuid() + 1}, zombies=None)
    finally:
        child.kill()
        child.wait()
    assert child.pid not in processes_of({os.getuid()}, zombies=None)

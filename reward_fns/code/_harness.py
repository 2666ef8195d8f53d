"""In-sandbox test runner for one code sample (stdlib only; its text runs inside the sandbox).

Protocol on stdin: 10 ASCII digits = length N of part 1, then N bytes of JSON part 1
``{"code", "mode": "stdio"|"call", "fn_name", "inputs", "timeout", "memory_mb", "max_output",
"parallel", "early_exit", "tol"}``, then part 2 = JSON list of expected outputs until EOF.

Processes: ``main`` reads part 1 and forks a ``zygote`` *before* reading the expected outputs,
so no process that runs untrusted code ever holds them. The zygote forks one child per test
(own process group, rlimits on memory / CPU / file size, stdin/stdout redirected to files in
the work dir), runs up to ``parallel`` at once, kills a child's group at its deadline, and
streams ``index status`` events to main. Main compares outputs, stops the zygote at the first
failure when ``early_exit``, and prints one line ``@@RESULT@@<json>`` on stdout.
"""

import json
import os
import resource
import selectors
import signal
import sys
import time

MARKER = "@@RESULT@@"


def _read_exact(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def _read_all(fd):
    parts = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def _parse_args(raw):
    """APPS call-based: a list of args. LiveCodeBench functional: newline-separated JSON values."""
    if isinstance(raw, str):
        return [json.loads(line) for line in raw.split("\n") if line.strip()]
    if isinstance(raw, list):
        return raw
    return [raw]


def _run_child(job, i):
    """Body of one test process (never returns)."""
    code_ = 1
    try:
        os.setpgid(0, 0)
        mem = int(job["memory_mb"]) << 20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        cpu = int(job["timeout"]) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        fsize = int(job["max_output"])
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        fd = os.open("in_%d" % i, os.O_RDONLY)
        os.dup2(fd, 0)
        fd = os.open("out_%d" % i, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        fd = os.open("err_%d" % i, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 2)
        os.closerange(3, 1 << 16)
        import builtins
        import io

        sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8",
                                     errors="replace")
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False), 1 << 16), encoding="utf-8")
        sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8",
                                      write_through=True)
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
        builtins.exit = builtins.quit = sys.exit
        code = job["code"]
        raw_input = job["inputs"][i]
        fn_name = job.get("fn_name")
        mode = job["mode"]
        del job
        sys.setrecursionlimit(10000)
        ns = {"__name__": "__main__" if mode == "stdio" else "solution", "__builtins__": builtins}
        try:
            exec(compile(code, "<solution>", "exec"), ns)
            if mode == "call":
                target = None
                sol = ns.get("Solution")
                if isinstance(sol, type) and hasattr(sol, fn_name):
                    target = getattr(sol(), fn_name)
                elif callable(ns.get(fn_name)):
                    target = ns[fn_name]
                if target is None:
                    raise NameError("function %r not found" % fn_name)
                result = target(*_parse_args(raw_input))
                if isinstance(result, tuple):
                    result = list(result)
                text = json.dumps(result)
                with open("res_%d" % i, "w") as f:
                    f.write(text)
            code_ = 0
        except SystemExit as exc:
            code_ = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except MemoryError:
            code_ = 3
        except BaseException:
            code_ = 1
            try:
                import traceback

                traceback.print_exc(limit=3)
            except BaseException:
                pass
        try:
            sys.stdout.flush()
        except BaseException:
            if code_ == 0:
                code_ = 4
    except BaseException:
        code_ = 1
    os._exit(code_ if isinstance(code_, int) and 0 <= code_ < 256 else 1)


def _zygote(job, events_w, stop_r):
    """Schedule the test children; report ``index status`` lines on ``events_w``."""
    os.close(0)
    n = len(job["inputs"])
    for i, raw in enumerate(job["inputs"]):
        if job["mode"] == "stdio":
            text = "\n".join(map(str, raw)) if isinstance(raw, list) else str(raw)
        else:
            text = ""
        with open("in_%d" % i, "w") as f:
            f.write(text)
    sel = selectors.DefaultSelector()
    sel.register(stop_r, selectors.EVENT_READ, None)
    running = {}
    nxt = 0
    timeout = float(job["timeout"])
    parallel = max(1, int(job["parallel"]))

    def report(i, status):
        os.write(events_w, ("%d %s\n" % (i, status)).encode())

    def kill_and_reap(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass

    def kill_all():
        for pid in list(running):
            kill_and_reap(pid)

    def finish(pid, status):
        i, pfd, _ = running.pop(pid)
        if pfd is not None:
            sel.unregister(pfd)
            os.close(pfd)
        try:
            os.killpg(pid, signal.SIGKILL)  # stray grandchildren of this test
        except OSError:
            pass
        if status is None:
            st = "timeout"
        elif os.WIFEXITED(status):
            st = {0: "ok", 3: "memory"}.get(os.WEXITSTATUS(status), "error")
        else:
            sig = os.WTERMSIG(status)
            st = {signal.SIGXCPU: "timeout", signal.SIGXFSZ: "output_limit"}.get(sig, "killed")
        report(i, st)

    while nxt < n or running:
        while nxt < n and len(running) < parallel:
            pid = os.fork()
            if pid == 0:
                os.close(events_w)
                os.close(stop_r)
                _run_child(job, nxt)
            try:
                os.setpgid(pid, pid)
            except OSError:
                pass
            try:  # pidfds make waiting event-driven; poll waitpid where they are unavailable
                pfd = os.pidfd_open(pid)
                sel.register(pfd, selectors.EVENT_READ, pid)
            except (AttributeError, OSError):
                pfd = None
            running[pid] = (nxt, pfd, time.monotonic() + timeout)
            nxt += 1
        wait = max(0.0, min(d for (_, _, d) in running.values()) - time.monotonic())
        if any(pfd is None for (_, pfd, _) in running.values()):
            wait = min(wait, 0.002)
        for key, _ in sel.select(wait):
            if key.data is None:
                kill_all()
                os._exit(0)
        for pid in list(running):
            try:
                got, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                got, status = pid, 0
            if got == pid:
                finish(pid, status)
        now = time.monotonic()
        for pid, (i, pfd, deadline) in list(running.items()):
            if deadline <= now:
                kill_and_reap(pid)
                finish(pid, None)
    os._exit(0)


def _read_capped(path, cap):
    try:
        with open(path, "rb") as f:
            data = f.read(cap + 1)
    except OSError:
        return None
    if len(data) > cap:
        return None
    return data.decode("utf-8", "replace")


def _not_dumpable():
    """Hide this process' memory and fds (/proc/<pid>/mem, fd/) from same-uid processes."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass


def main():
    _not_dumpable()
    header = _read_exact(0, 10)
    job = json.loads(_read_exact(0, int(header)).decode())
    events_r, events_w = os.pipe()
    stop_r, stop_w = os.pipe()
    zpid = os.fork()
    if zpid == 0:
        os.close(events_r)
        os.close(stop_w)
        _zygote(job, events_w, stop_r)
    os.close(events_w)
    os.close(stop_r)
    expected = json.loads(_read_all(0).decode())
    n = len(job["inputs"])
    statuses = [None] * n
    passed = [False] * n
    tol = float(job.get("tol", 1e-6))
    cap = int(job["max_output"])
    buf = b""
    done = 0
    stopped = False
    while done < n:
        chunk = os.read(events_r, 4096)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            i_s, st = line.decode().split(" ", 1)
            i = int(i_s)
            done += 1
            ok = False
            if st == "ok":
                if job["mode"] == "stdio":
                    out = _read_capped("out_%d" % i, cap)
                    ok = out is not None and outputs_match(out, expected[i], tol)
                    if out is None:
                        st = "output_limit"
                else:
                    res = _read_capped("res_%d" % i, cap)
                    try:
                        exp = expected[i]
                        if isinstance(exp, str):
                            try:
                                exp = json.loads(exp)
                            except ValueError:
                                pass
                        ok = res is not None and call_output_match(json.loads(res), exp, tol)
                    except ValueError:
                        ok = False
                if not ok and st == "ok":
                    st = "wrong_answer"
            statuses[i] = st
            passed[i] = ok
            if not ok and job.get("early_exit", True):
                stopped = True
                break
        if stopped:
            break
    os.close(stop_w)  # EOF tells the zygote to kill what runs and exit
    try:
        os.waitpid(zpid, 0)
    except OSError:
        pass
    result = {"passed": passed, "statuses": statuses, "early_exit": stopped}
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()

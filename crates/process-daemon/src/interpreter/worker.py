# processd interpreter worker: one long-lived Python process per interpreter context.
#
# Started by the daemon as `python -c <this file> <sync token>` with:
#   fd 0  a Unix socket to the daemon: the control channel (newline-delimited JSON both ways);
#   fd 1  a pipe the daemon reads as the run's raw stdout;
#   fd 2  a pipe the daemon reads as the run's raw stderr.
# The worker moves the control socket off fd 0 (user code reads /dev/null as stdin), keeps
# private copies of the two pipes, and runs each job's code in one persistent `__main__`
# namespace. Everything user code (or any subprocess, or C code) writes to fds 1/2 reaches the
# daemon unchanged. A job begins with the start marker `\0processd-start:<token>\0` on both
# pipes (the daemon drops what came before: output written between jobs). At the end of a job
# the worker flushes Python's streams, writes the sync marker `\0processd-sync:<token>\0` to
# both pipes, then reports `done` on the control channel; the daemon forwards pipe bytes between
# the markers, so no output of a job is reported after its completion.
#
# Control messages, daemon -> worker:
#   {"op": "init", "chart_capture": str}   (source of the daemon's matplotlib capture module)
#   {"op": "run", "code": str, "envs": {str: str}}
# worker -> daemon:
#   {"op": "ready", "pid": int, "version": str}
#   {"op": "log", "message": str}                        (a worker problem, for the daemon's log)
#   {"op": "chart", "chart": {...}}    (a figure shown by the job; then the chart marker
#                                       `\0processd-chart:<token>\0` goes to the stdout pipe
#                                       so the daemon places the chart frame exactly there)
#   {"op": "done", "status": "ok"|"error"|"interrupted",
#    "error": null | {"name": str, "value": str, "traceback": str}}
#
# SIGINT raises KeyboardInterrupt only while user code runs; the daemon sends it on timeout.

import builtins as _builtins
import io as _io
import json as _json
import linecache as _linecache
import os as _os
import signal as _signal
import sys as _sys
import traceback as _traceback
import types as _types


class _Worker:
    def __init__(self, token):
        # Control channel off fd 0; user code and its children get /dev/null as stdin.
        self.ctl = _os.dup(0)  # non-inheritable: subprocesses never see it
        null = _os.open(_os.devnull, _os.O_RDONLY)
        _os.dup2(null, 0)
        _os.close(null)
        self.ctl_in = _io.open(self.ctl, "rb", buffering=1 << 16, closefd=False)
        # Private copies of the output pipes: markers reach the daemon even if user code
        # redirects or closes fds 1/2.
        self.out_fd = _os.dup(1)
        self.err_fd = _os.dup(2)
        self.out_stat = _os.fstat(self.out_fd)
        self.err_stat = _os.fstat(self.err_fd)
        self.start_marker = b"\0processd-start:" + token.encode("ascii") + b"\0"
        self.marker = b"\0processd-sync:" + token.encode("ascii") + b"\0"
        self.chart_marker = b"\0processd-chart:" + token.encode("ascii") + b"\0"
        self.running = False
        self.cells = 0
        self.stdout = _make_stream(1)
        self.stderr = _make_stream(2)
        _sys.stdin = _sys.__stdin__ = _io.TextIOWrapper(
            _io.FileIO(0, "r", closefd=False), encoding="utf-8", errors="replace"
        )
        self.install_streams()
        # User code runs in a fresh `__main__` module (pickle and dataclasses look it up).
        module = _types.ModuleType("__main__")
        module.__builtins__ = _builtins
        _sys.modules["__main__"] = module
        self.globals = module.__dict__
        _sys.argv = [""]
        if _sys.path and _sys.path[0] != "":
            _sys.path.insert(0, "")
        _signal.signal(_signal.SIGINT, self.on_sigint)

    def install_streams(self):
        _sys.stdout = _sys.__stdout__ = self.stdout
        _sys.stderr = _sys.__stderr__ = self.stderr

    def on_sigint(self, signum, frame):
        if self.running:
            raise KeyboardInterrupt

    def send(self, message):
        data = (_json.dumps(message, default=_json_default) + "\n").encode("utf-8")
        _write_all(self.ctl, data)

    def serve(self):
        self.send({"op": "ready", "pid": _os.getpid(), "version": _sys.version})
        while True:
            line = self.ctl_in.readline()
            if not line:
                _os._exit(0)
            try:
                message = _json.loads(line)
            except ValueError:
                continue
            op = message.get("op")
            if op == "run":
                self.run(message.get("code") or "", message.get("envs") or {})
            elif op == "init":
                self.setup_charts(message.get("chart_capture") or "")

    def restore_fds(self):
        """Puts the output pipes back on fds 1/2 if an earlier job moved them."""
        for fd, private, stat in ((1, self.out_fd, self.out_stat), (2, self.err_fd, self.err_stat)):
            try:
                now = _os.fstat(fd)
                same = (now.st_dev, now.st_ino) == (stat.st_dev, stat.st_ino)
            except OSError:
                same = False
            if not same:
                _os.dup2(private, fd)

    def run(self, code, envs):
        self.restore_fds()
        # Everything before this marker was written between jobs; the daemon drops it.
        _write_all(self.out_fd, self.start_marker)
        _write_all(self.err_fd, self.start_marker)
        if _sys.stdout is None or getattr(_sys.stdout, "closed", False):
            _sys.stdout = self.stdout
        if _sys.stderr is None or getattr(_sys.stderr, "closed", False):
            _sys.stderr = self.stderr
        saved = {}
        for key, value in envs.items():
            saved[key] = _os.environ.get(key)
            try:
                _os.environ[key] = value
            except (ValueError, TypeError) as exc:
                self.stderr.write("processd: cannot set environment variable %r: %s\n" % (key, exc))
        self.cells += 1
        filename = "<cell-%d>" % self.cells
        _linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        status, error = "ok", None
        try:
            try:
                compiled = compile(code, filename, "exec", flags=_TOP_LEVEL_AWAIT, dont_inherit=True)
                self.running = True
                try:
                    if compiled.co_flags & _CO_COROUTINE:
                        import asyncio

                        asyncio.run(eval(compiled, self.globals))
                    else:
                        exec(compiled, self.globals)
                finally:
                    self.running = False
            except SystemExit as exc:
                if exc.code is not None and not isinstance(exc.code, int):
                    self.stderr.write("%s\n" % (exc.code,))
            except KeyboardInterrupt as exc:
                status, error = "interrupted", self.describe(exc)
            except BaseException as exc:  # noqa: B902 - every user failure is reported
                status, error = "error", self.describe(exc)
        except KeyboardInterrupt as exc:  # an interrupt that raced the end of the job
            status, error = "interrupted", self.describe(exc)
        self.finish(saved)
        self.send({"op": "done", "status": status, "error": error})

    def finish(self, saved):
        self.running = False
        for stream in (_sys.stdout, _sys.stderr, self.stdout, self.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - user-replaced or closed streams
                pass
        for key, value in saved.items():
            if value is None:
                _os.environ.pop(key, None)
            else:
                _os.environ[key] = value
        _signal.signal(_signal.SIGINT, self.on_sigint)
        _write_all(self.out_fd, self.marker)
        _write_all(self.err_fd, self.marker)

    def chart(self, value):
        """Sends a chart, then marks its place in the stdout pipe (after everything printed so
        far), so the daemon can put it exactly there."""
        self.send({"op": "chart", "chart": value})
        try:
            _sys.stdout.flush()
        except Exception:  # noqa: BLE001 - user-replaced or closed stream
            pass
        _write_all(self.out_fd, self.chart_marker)

    def describe(self, exc):
        tb = exc.__traceback__
        while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell-"):
            tb = tb.tb_next
        text = "".join(_traceback.format_exception(type(exc), exc, tb))
        try:
            value = str(exc)
        except Exception:  # noqa: BLE001 - a broken __str__
            value = "<unprintable %s object>" % type(exc).__name__
        return {"name": type(exc).__name__, "value": value, "traceback": text}

    def setup_charts(self, source):
        """Loads the daemon's chart-capture module and routes the charts it produces (one per
        figure on `plt.show()`) to `chart` messages."""
        if not source:
            return
        try:
            module = _types.ModuleType("_processd_chart_capture")
            exec(compile(source, "<processd-chart-capture>", "exec"), module.__dict__)
            module._charts_out = _ChartSink(self, module.ARTIFACT_PREFIX)
            if "matplotlib.pyplot" in _sys.modules:
                module._patch_matplotlib(_sys.modules["matplotlib.pyplot"])
            else:
                _sys.meta_path.insert(0, module._PyplotFinder())
        except Exception as exc:  # noqa: BLE001 - charts are optional, the context is not
            self.send({"op": "log", "message": "chart capture disabled: %s" % (exc,)})


class _ChartSink:
    """The file the chart-capture module writes artifact lines to: each line becomes a `chart`
    control message (never user-visible output, so printed text cannot forge a chart)."""

    def __init__(self, worker, prefix):
        self.worker = worker
        self.prefix = prefix
        self.pending = ""

    def write(self, text):
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            if not line.startswith(self.prefix):
                continue
            try:
                artifact = _json.loads(line[len(self.prefix) :])
            except ValueError:
                continue
            if artifact.get("type") == "chart" and artifact.get("value"):
                self.worker.chart(artifact["value"])
        return len(text)

    def flush(self):
        pass


class _FdWriter(_io.RawIOBase):
    """Unbuffered writes to a file descriptor, retried until complete. Python's text streams
    on fds 1/2 hand every write straight to it, so their output stays in order with output of
    subprocesses and C code sharing the fd, and a failed write (e.g. fd 1 closed by the code)
    leaves nothing buffered to resurface later."""

    def __init__(self, fd):
        super().__init__()
        self._fd = fd

    def writable(self):
        return True

    def fileno(self):
        return self._fd

    def write(self, data):
        view = memoryview(data)
        total = len(view)
        while view:
            view = view[_os.write(self._fd, view) :]
        return total


def _make_stream(fd):
    return _io.TextIOWrapper(_FdWriter(fd), encoding="utf-8", errors="backslashreplace", write_through=True)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = _os.write(fd, view)
        view = view[written:]


def _json_default(value):
    """Serialises numpy scalars/arrays, sets and other iterables found in chart data."""
    for attr in ("tolist", "item"):
        method = getattr(value, attr, None)
        if callable(method):
            return method()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


try:
    import ast as _ast

    _TOP_LEVEL_AWAIT = _ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
except AttributeError:  # Python < 3.8
    _TOP_LEVEL_AWAIT = 0
_CO_COROUTINE = 0x0080


def _main():
    token = _sys.argv[1] if len(_sys.argv) > 1 else "0"
    _Worker(token).serve()


_main()

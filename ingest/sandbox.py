"""Parsing in worker processes, each file under a wall-clock deadline and a memory cap.

``ParserPool`` runs module-level functions (the pipeline's parse of one file) in worker processes of its own,
one file at a time per worker. A worker is started (``spawn``) when the first file comes, and runs:

- under an address-space cap (``RLIMIT_AS``): what it maps once it has started and loaded what every parse
  needs (``setup``), plus ``FOLIO_PARSE_MEMORY_MB``. A parse that needs more meets a ``MemoryError`` (or, in
  native code such as the tokenizers' Rust, an abort); the file fails with ``parse_memory`` and the worker is
  replaced. The cap counts from the started worker, not from zero, because what a worker maps at rest grows
  with the machine's cores (thread stacks, and glibc's malloc arenas of 64 MiB each, which the worker also
  limits), not with the file: 0.44 GB on two cores, 0.57 GB with 64 tokenizer threads, and 3.5 GB more
  without the arena limit;
- under a deadline: a file whose parse goes on for ``FOLIO_PARSE_TIMEOUT_S`` is stopped: its worker and every
  process under it (OCR's) are killed, the file fails with ``parse_timeout``, and the next file gets a fresh
  worker. Each event the parse reports (a page OCR has read) starts the clock again: OCR of a long scan is
  legitimately slow, and each of its pages is bounded already (``FOLIO_OCR_PAGE_TIMEOUT_S``), while the text
  layer, which a hostile file can make cost hours, is read before the first page is OCR'd.

A worker that dies on a file (a crash in a C library) fails that file alone; the files queued behind it go to
a fresh worker. A supervisor thread does all of this, so a deadline holds whatever the caller is doing;
events come back through ``events``, results through futures. A worker ignores Ctrl-C (the process that owns
the pool decides, and ``close`` stops its workers) and exits by itself when that process is gone.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import psutil

from folio.config import Settings
from folio.errors import ConfigError, CorruptFile, FolioError, ParseMemory, ParseTimeout

logger = logging.getLogger("folio.ingest.sandbox")

_MB = 1_000_000
# Workers yield a little to the embedder, for the moments before ``ingest.pipeline.Ingestor._share_cores`` hands
# the model fewer threads; a much lower priority starves the parser when other processes load the machine.
# Their OCR processes inherit it.
NICE = 5
MALLOC_ARENAS = 2  # glibc makes up to 8 per core, each reserving 64 MiB of address space
START_TIMEOUT_S = 120.0  # the longest a worker may take to start (imports and ``setup``) before it is given up
PARENT_POLL_S = 1.0  # how often a worker checks that the process that started it is still there


@dataclass(frozen=True)
class SandboxLimits:
    """What one file's parse may cost: ``timeout_s`` without progress, ``memory_mb`` more address space than
    its worker maps at rest (None: no cap)."""

    timeout_s: float = Settings.model_fields["parse_timeout_s"].default
    memory_mb: float | None = Settings.model_fields["parse_memory_mb"].default

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxLimits:
        return cls(timeout_s=settings.parse_timeout_s, memory_mb=settings.parse_memory_mb)


class ParseInterrupted(FolioError):
    """The pool was closed while the file was queued or being parsed (the batch or the service stopped)."""

    code = "interrupted"


# -- in a worker ------------------------------------------------------------------------------------------

_CHILD: dict[str, Any] = {}  # in a worker: "send", which passes a message to the pool


def report_event(event: Any) -> None:
    """In a worker: pass ``event`` to the pool's ``events`` queue, and start the file's clock again.
    Elsewhere (a parse run inline): nothing."""
    send = _CHILD.get("send")
    if send is not None:
        send(("event", event))


def _serve(conn: Connection, parent: int, setup: Callable[..., object] | None, setup_args: tuple[Any, ...],
           budget: int | None) -> None:
    """A worker's life: set up, cap the address space, then run tasks until told to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_tree)
    with contextlib.suppress(OSError):  # not permitted: run at normal priority
        os.nice(NICE)
    _limit_malloc_arenas()
    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with lock:
            conn.send(message)

    _CHILD["send"] = send
    threading.Thread(target=_watch_parent, args=(parent,), name="folio-parent-watch", daemon=True).start()
    if setup is not None:
        setup(*setup_args)
    mapped = _mapped_bytes()
    if budget is not None and mapped is not None:
        _cap_address_space(mapped + budget)
    send(("ready", mapped))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        except MemoryError:
            send(("memory",))
            return
        if task is None:
            return
        fn, args = task
        del task
        message: tuple[Any, ...] | None = None
        try:
            message = ("done", fn(*args))
        except MemoryError:
            pass
        except BaseException as exc:  # whatever the task raised is the caller's to judge
            message = ("error", exc)
        del fn, args
        if message is not None:
            try:
                send(message)
                continue
            except MemoryError:  # the result is too large to send under the cap
                pass
            except Exception as exc:  # an unpicklable result or exception
                send(("error", RuntimeError(f"the parser's result could not be sent back: {exc}")))
                continue
        del message  # out of memory: say so once the memory is free, and leave (its heap may be in pieces)
        send(("memory",))
        return


def _stop_tree(signum: int, frame: object) -> None:
    """SIGTERM: this worker goes, and the OCR processes under it with it."""
    kill_tree(os.getpid(), include_root=False)
    os._exit(1)


def _watch_parent(parent: int) -> None:
    """Stop this worker (and its OCR processes) when the process that started it is gone (killed with -9)."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    _stop_tree(signal.SIGTERM, None)


def _limit_malloc_arenas() -> None:
    """Let glibc's malloc make at most ``MALLOC_ARENAS`` arenas: each reserves 64 MiB of address space,
    up to 8 per core, which would make the cap depend on the machine rather than on the file."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to limit
        ctypes.CDLL(name).mallopt(-8, MALLOC_ARENAS)  # M_ARENA_MAX


def _mapped_bytes() -> int | None:
    """This process's address space (virtual memory size) in bytes; None where the platform does not say."""
    try:
        return int(psutil.Process().memory_info().vms)
    except (psutil.Error, AttributeError):
        return None


def _cap_address_space(limit: int) -> None:
    """``RLIMIT_AS`` at ``limit`` bytes (or the hard limit, if lower), and no core files: a parse that dies
    would otherwise leave up to that much of one in the working directory."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (none when it is gone)."""
    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.Error:
        return []


def descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (children, theirs, ...); none when it is gone."""
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def kill_tree(pid: int, *, include_root: bool = True) -> None:
    """SIGKILL ``pid`` and every process under it. Each is stopped before its children are listed, so that
    none of them starts another meanwhile."""
    stopped: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        if current != pid or include_root:
            try:
                os.kill(current, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            stopped.append(current)
        pending.extend(_children(current))
    for current in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(current, signal.SIGKILL)


def _how(exitcode: int | None) -> str:
    """How a process ended, in words: "signal SIGSEGV", "exit code 1"."""
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-exitcode).name}"
        return f"signal {-exitcode}"
    return f"exit code {exitcode}"


# -- the pool ---------------------------------------------------------------------------------------------


@dataclass
class _Task:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    name: str
    future: cf.Future[Any]
    running: bool = False


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    started: float
    ready: bool = False
    task: _Task | None = None
    clock: float = 0.0  # when the task started or last reported progress; idle: when it became idle
    retiring: bool = False  # it will exit (after a MemoryError): no more tasks
    mapped: int | None = None
    killed: bool = False


class ParserPool:
    """Up to ``workers`` worker processes, each running one task at a time under ``limits``.

    ``setup(*setup_args)`` runs once in each worker before its memory is capped: what every task needs
    (tokenizers, say), so that the cap and the deadlines count what a file costs. A task's ``name`` (the
    file's) goes into the errors. With ``idle_s``, a worker that has had nothing to do for that long exits,
    and gives its memory back until the next task starts another. ``close`` stops the workers; the pool
    cannot be used after it.
    """

    def __init__(self, workers: int, limits: SandboxLimits | None = None, *,
                 setup: Callable[..., object] | None = None, setup_args: tuple[Any, ...] = (),
                 idle_s: float | None = None) -> None:
        self.workers = max(1, workers)
        self.limits = limits or SandboxLimits()
        self.idle_s = idle_s  # a worker without a task for this long exits (None: it stays)
        self.setup = setup
        self.setup_args = setup_args
        self.events: queue.Queue[Any] = queue.Queue()  # what the tasks reported (``report_event``)
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._queue: deque[_Task] = deque()
        self._running: list[_Worker] = []
        self._closed = False
        self._thread: threading.Thread | None = None
        self._wake_read, self._wake_write = self._context.Pipe(duplex=False)

    # -- the caller's side ------------------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], *args: Any, name: str) -> cf.Future[Any]:
        """Run ``fn(*args)`` in a worker; the future holds its result or its exception (``ParseTimeout``,
        ``ParseMemory``, ``CorruptFile`` when the worker died, ``ParseInterrupted`` when the pool closed)."""
        future: cf.Future[Any] = cf.Future()
        with self._lock:
            if self._closed:
                future.set_exception(ParseInterrupted("the parser was shut down before this file", file=name))
                return future
            self._queue.append(_Task(fn, args, name, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._supervise, name="folio-parser-pool", daemon=True)
                self._thread.start()
                # before multiprocessing's own exit handler, which would wait for the workers forever
                atexit.register(self.close)
        self._wake()
        return future

    def pids(self) -> list[int]:
        """The workers' process ids (for tests and diagnostics)."""
        with self._lock:
            return [w.process.pid for w in self._running if w.process.pid is not None]

    def close(self) -> None:
        """Stop every worker (and the processes under them) and fail what is queued or running."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._wake()
            thread.join()
            atexit.unregister(self.close)
        self._wake_read.close()
        self._wake_write.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # closed: the supervisor is gone already
            self._wake_write.send_bytes(b"!")

    # -- the supervisor thread ----------------------------------------------------------------------------

    def _supervise(self) -> None:
        try:
            while self._step():
                pass
        except BaseException as exc:  # a bug here must not leave callers waiting for ever
            logger.exception("the parser pool failed")
            with self._lock:
                self._closed = True
            self._fail_queue(ParseInterrupted(f"the parser pool failed ({type(exc).__name__}: {exc})"))
        self._shut_down()

    def _step(self) -> bool:
        """One round: start and feed workers, wait for one of them (or a deadline), act on what happened.
        False once the pool is closed."""
        with self._lock:
            if self._closed:
                return False
        self._start_workers()
        self._assign()
        handles: list[Any] = [self._wake_read]
        for worker in self._running:
            handles += [worker.conn, worker.process.sentinel]
        ready = wait(handles, self._until_next_deadline())
        if self._wake_read in ready:
            while self._wake_read.poll():
                self._wake_read.recv_bytes()
        for worker in list(self._running):
            if worker.conn in ready:
                self._receive(worker)
            if worker in self._running and worker.process.sentinel in ready:
                self._receive(worker)  # what it sent before it ended
                if worker in self._running:
                    self._ended(worker)
        self._enforce_deadlines()
        return True

    def _start_workers(self) -> None:
        with self._lock:
            waiting = len(self._queue)
        available = sum(1 for w in self._running if not w.retiring and w.task is None)
        for _ in range(min(waiting - available, self.workers - len(self._running))):
            parent_end, child_end = self._context.Pipe()
            budget = None if self.limits.memory_mb is None else int(self.limits.memory_mb * _MB)
            # not a daemon: a daemonic process may not start the OCR's processes
            process = self._context.Process(target=_serve, name="folio-parser", daemon=False,
                                            args=(child_end, os.getpid(), self.setup, self.setup_args, budget))
            try:
                process.start()
            except OSError as exc:  # no process to be had (EAGAIN, ENOMEM): the files waiting fail, not the pool
                parent_end.close()
                child_end.close()
                self._fail_queue(ConfigError(f"the parser process could not start: {exc}"))
                return
            child_end.close()
            with self._lock:
                self._running.append(_Worker(process, parent_end, started=time.monotonic()))

    def _assign(self) -> None:
        for worker in self._running:
            if not worker.ready or worker.retiring or worker.task is not None:
                continue
            task = self._next_task()
            if task is None:
                return
            try:
                worker.conn.send((task.fn, task.args))
            except (OSError, ValueError):  # it died meanwhile: the task goes to the next worker
                with self._lock:
                    self._queue.appendleft(task)
                continue
            except Exception as exc:  # arguments that cannot be sent
                task.future.set_exception(exc)
                continue
            worker.task, worker.clock = task, time.monotonic()

    def _next_task(self) -> _Task | None:
        with self._lock:
            while self._queue:
                task = self._queue.popleft()
                if task.running or task.future.set_running_or_notify_cancel():
                    task.running = True
                    return task
        return None

    def _until_next_deadline(self) -> float | None:
        now = time.monotonic()
        deadlines = [w.clock + self.limits.timeout_s for w in self._running if w.task is not None]
        deadlines += [w.started + START_TIMEOUT_S for w in self._running if not w.ready]
        if self.idle_s is not None:
            deadlines += [w.clock + self.idle_s for w in self._running if w.ready and w.task is None and not w.retiring]
        return max(0.0, min(deadlines) - now) if deadlines else None

    def _receive(self, worker: _Worker) -> None:
        while True:
            try:
                if not worker.conn.poll():
                    return
                message = worker.conn.recv()
            except (EOFError, OSError):
                self._ended(worker)
                return
            kind = message[0]
            if kind == "ready":
                worker.ready, worker.mapped, worker.clock = True, message[1], time.monotonic()
                logger.debug("parser worker %s started: %s MB mapped", worker.process.pid,
                             None if worker.mapped is None else worker.mapped // _MB)
            elif kind == "event":
                self.events.put(message[1])
                worker.clock = time.monotonic()
            elif kind == "memory":
                worker.retiring = True
                self._finish(worker, error=self._memory_error(worker))
            elif kind == "done":
                self._finish(worker, result=message[1])
            else:
                self._finish(worker, error=message[1])

    def _finish(self, worker: _Worker, *, result: Any = None, error: BaseException | None = None) -> None:
        task, worker.task, worker.clock = worker.task, None, time.monotonic()
        if task is None:
            return
        if error is not None:
            task.future.set_exception(error)
        else:
            task.future.set_result(result)

    def _memory_error(self, worker: _Worker) -> ParseMemory:
        name = worker.task.name if worker.task is not None else None
        if self.limits.memory_mb is None:
            return ParseMemory("parsing ran out of memory and was stopped", file=name)
        return ParseMemory(f"parsing needed more memory than the {self.limits.memory_mb:g} MB limit "
                           "(FOLIO_PARSE_MEMORY_MB) and was stopped", file=name)

    def _ended(self, worker: _Worker) -> None:
        """A worker is gone (it exited, crashed, or was killed): what it was doing fails, the rest goes on."""
        with self._lock:
            self._running.remove(worker)
        worker.process.join(timeout=5)
        worker.conn.close()
        code = worker.process.exitcode
        if worker.task is not None and not worker.killed:
            error: FolioError
            if code == -signal.SIGKILL or (code == -signal.SIGABRT and self.limits.memory_mb is not None):
                # not by this pool: the system's out-of-memory killer; or native code (the tokenizers' Rust, C++)
                # that aborts when an allocation fails under the cap
                limit = "" if self.limits.memory_mb is None else (
                    f" under the {self.limits.memory_mb:g} MB limit (FOLIO_PARSE_MEMORY_MB)")
                error = ParseMemory(f"the parser's process was stopped ({_how(code)}), most likely for want of "
                                    f"memory{limit}", file=worker.task.name)
            else:
                error = CorruptFile(f"the parser crashed on this file (its process died: {_how(code)})",
                                    file=worker.task.name)
            self._finish(worker, error=error)
        elif not worker.ready and not worker.killed:
            self._fail_queue(ConfigError(f"the parser process could not start (exit code {code})"))

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for worker in list(self._running):
            if worker.task is not None and now - worker.clock >= self.limits.timeout_s:
                task = worker.task
                self._kill(worker)
                task.future.set_exception(ParseTimeout(
                    f"parsing went on for over {self.limits.timeout_s:g} s (FOLIO_PARSE_TIMEOUT_S) and was "
                    "stopped", file=task.name))
            elif not worker.ready and now - worker.started >= START_TIMEOUT_S:
                self._kill(worker)
                self._fail_queue(ConfigError(f"the parser process did not start within {START_TIMEOUT_S:g} s"))
            elif (self.idle_s is not None and worker.ready and worker.task is None and not worker.retiring
                  and now - worker.clock >= self.idle_s):
                worker.retiring = True
                with contextlib.suppress(OSError, ValueError):
                    worker.conn.send(None)  # it exits; its end is seen like any other

    def _kill(self, worker: _Worker) -> None:
        worker.killed = True
        if worker.process.pid is not None:
            kill_tree(worker.process.pid)
        worker.task = None
        self._ended(worker)

    def _fail_queue(self, error: FolioError) -> None:
        with self._lock:
            tasks, self._queue = list(self._queue), deque()
        for task in tasks:
            if task.running or task.future.set_running_or_notify_cancel():
                error_for_task = type(error)(error.message, file=task.name)
                task.future.set_exception(error_for_task)

    def _shut_down(self) -> None:
        for worker in list(self._running):
            task = worker.task
            if task is None and worker.ready:
                with contextlib.suppress(OSError, ValueError):
                    worker.conn.send(None)  # idle: let it exit by itself
                worker.process.join(timeout=2)
            if worker.process.is_alive():
                self._kill(worker)
            else:
                worker.killed = True
                worker.task = None
                self._ended(worker)
            if task is not None:
                task.future.set_exception(ParseInterrupted("parsing was stopped: the batch or the service is "
                                                           "shutting down", file=task.name))
        self._fail_queue(ParseInterrupted("parsing was stopped: the batch or the service is shutting down"))

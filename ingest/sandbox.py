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

from folio.config import Settings
from folio.errors import ConfigError, CorruptFile, FolioError, ParseInterrupted, ParseMemory, ParseTimeout
from folio.ingest.sandbox_worker import descendants, how_it_ended, kill_tree, report_event, serve_worker

__all__ = ["ParseInterrupted", "ParserPool", "SandboxLimits", "descendants", "kill_tree", "report_event"]

logger = logging.getLogger("folio.ingest.sandbox")

_MB = 1_000_000
START_TIMEOUT_S = 120.0  # the longest a worker may take to start (imports and ``setup``) before it is given up


@dataclass(frozen=True)
class SandboxLimits:
    """What one file's parse may cost: ``timeout_s`` without progress, ``memory_mb`` more address space than
    its worker maps at rest (None: no cap)."""

    timeout_s: float = Settings.model_fields["parse_timeout_s"].default
    memory_mb: float | None = Settings.model_fields["parse_memory_mb"].default

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxLimits:
        return cls(timeout_s=settings.parse_timeout_s, memory_mb=settings.parse_memory_mb)


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
            process = self._context.Process(target=serve_worker, name="folio-parser", daemon=False,
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
                error = ParseMemory(f"the parser's process was stopped ({how_it_ended(code)}), most likely for want of "
                                    f"memory{limit}", file=worker.task.name)
            else:
                error = CorruptFile(f"the parser crashed on this file (its process died: {how_it_ended(code)})",
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

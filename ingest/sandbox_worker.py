"""A parser worker's side of the sandbox (``folio.ingest.sandbox``): the process that runs one file's parse
at a time, at a lower priority, under an address-space cap, and that stops itself and everything under it
when the process that started it is gone; and the process-tree helpers the pool uses to stop a worker."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import psutil

# Workers yield a little to the embedder, for the moments before ``ingest.pipeline.Ingestor._share_cores`` hands
# the model fewer threads; a much lower priority starves the parser when other processes load the machine.
# Their OCR processes inherit it.
NICE = 5
MALLOC_ARENAS = 2  # glibc makes up to 8 per core, each reserving 64 MiB of address space
PARENT_POLL_S = 1.0  # how often a worker checks that the process that started it is still there


_CHILD: dict[str, Any] = {}  # in a worker: "send", which passes a message to the pool


def report_event(event: Any) -> None:
    """In a worker: pass ``event`` to the pool's ``events`` queue, and start the file's clock again.
    Elsewhere (a parse run inline): nothing."""
    send = _CHILD.get("send")
    if send is not None:
        send(("event", event))


def serve_worker(conn: Connection, parent: int, setup: Callable[..., object] | None, setup_args: tuple[Any, ...],
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


def how_it_ended(exitcode: int | None) -> str:
    """How a process ended, in words: "signal SIGSEGV", "exit code 1"."""
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-exitcode).name}"
        return f"signal {-exitcode}"
    return f"exit code {exitcode}"



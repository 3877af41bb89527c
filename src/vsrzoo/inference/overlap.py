"""Decode ahead and encode behind: video I/O in background threads, so the model never waits on PyAV.

:class:`DecodeAhead` runs a frame iterator in a thread and hands its items over through a
bounded queue; :class:`EncodeBehind` takes frames through a bounded queue and writes them in a
thread. Both bound memory by their queue depth, re-raise the thread's exception in the caller,
and stop their thread when closed early (an error or Ctrl-C in the caller). FFmpeg and torch
release the GIL while they work, so decoding, the model and encoding overlap on separate cores.

Reconstruction: the thread-and-queue layout and the default depth (8 frames) are our choices;
``benchmarks/io_overlap.py`` measures frames/s with and without the overlap.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

DEFAULT_DEPTH = 8
_END = object()
_POLL = 0.1  # seconds between checks of the stop flag while a queue is full or empty


def _stop_thread(thread: threading.Thread, items: queue.Queue) -> None:
    """Wait for ``thread`` to end, emptying ``items`` so it is never blocked on a full queue."""
    while thread.is_alive():
        try:
            items.get_nowait()
        except queue.Empty:
            thread.join(_POLL)


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


class DecodeAhead(Iterator):
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead of the consumer."""

    def __init__(self, items: Iterable[Any], depth: int = DEFAULT_DEPTH, name: str = "decode-ahead"):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, items: Iterable[Any]) -> None:
        it = iter(items)
        try:
            for item in it:
                if not self._put(item):
                    break
            else:
                self._put(_END)
        except BaseException as exc:  # handed to the consumer
            self._put(_Failure(exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # a generator releases its file in this thread

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._done = True
            raise item.exc
        return item

    def close(self) -> None:
        """Stop the thread and wait for it (it finishes its current item first)."""
        self._done = True
        self._stop.set()
        _stop_thread(self._thread, self._queue)

    def __enter__(self) -> DecodeAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EncodeBehind:
    """Pass ``write`` calls to ``writer.write`` in a background thread, at most ``depth`` behind.

    ``close()`` waits for the queue to drain and returns ``writer.close()``; ``abort()`` drops
    what is queued and calls ``writer.abort()``. An error in the thread is raised by the next
    ``write`` or by ``close``.
    """

    def __init__(self, writer: Any, depth: int = DEFAULT_DEPTH, name: str = "encode-behind"):
        self.writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is _END or self._stop.is_set():
                return
            try:
                self.writer.write(*item[0], **item[1])
            except BaseException as exc:
                self._error = exc
                return

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, *args: Any, **kwargs: Any) -> None:
        self._check()
        while True:
            try:
                self._queue.put((args, kwargs), timeout=_POLL)
                return
            except queue.Full:
                self._check()
                if not self._thread.is_alive():
                    raise RuntimeError("the encoder thread stopped") from None

    def close(self) -> Any:
        """Write what is queued, then finish the output (``writer.close()``)."""
        self._check()
        while self._thread.is_alive():
            try:
                self._queue.put(_END, timeout=_POLL)
                break
            except queue.Full:
                continue
        self._thread.join()
        if self._error is not None:
            self.writer.abort()
            raise self._error
        return self.writer.close()

    def abort(self) -> None:
        """Drop what is queued, stop the thread, and discard the output (``writer.abort()``)."""
        self._stop.set()
        _stop_thread(self._thread, self._queue)
        self.writer.abort()

    @property
    def count(self) -> int:
        return self.writer.count

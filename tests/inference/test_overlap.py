"""Decode-ahead and encode-behind threads: order kept, memory bounded, errors raised in the caller, threads stopped."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from inference_helpers import pan_frames

from vsrzoo.data.io import FrameWriter, open_video
from vsrzoo.inference.overlap import DecodeAhead, EncodeBehind


def test_decode_ahead_keeps_order_and_stays_bounded():
    produced = []

    def items():
        for i in range(50):
            produced.append(i)
            yield i

    ahead = DecodeAhead(items(), depth=4)
    assert next(ahead) == 0
    time.sleep(0.3)
    assert len(produced) <= 1 + 4 + 1  # consumed + queued + one waiting to be queued
    assert [0, *ahead] == list(range(50))


def test_decode_ahead_raises_the_threads_error_in_the_caller():
    def items():
        yield 1
        raise ValueError("corrupt packet")

    ahead = DecodeAhead(items())
    assert next(ahead) == 1
    with pytest.raises(ValueError, match="corrupt packet"):
        next(ahead)


def test_decode_ahead_close_stops_and_closes_the_source():
    closed = threading.Event()

    def items():
        try:
            yield from range(10**6)
        finally:
            closed.set()

    ahead = DecodeAhead(items(), depth=2)
    next(ahead)
    ahead.close()
    assert closed.wait(5) and not ahead._thread.is_alive()


def test_encode_behind_writes_everything_in_order(tmp_path):
    frames = pan_frames(6, 16, 24)
    writer = EncodeBehind(FrameWriter(tmp_path / "out"), depth=2)
    for f in frames:
        writer.write(f)
    path = writer.close()
    assert all(np.array_equal(a, b) for a, b in zip(open_video(path), frames))


def test_encode_behind_error_reaches_the_caller_and_nothing_is_left(tmp_path):
    frames = pan_frames(3, 16, 24)
    writer = EncodeBehind(FrameWriter(tmp_path / "out.mp4"))
    writer.write(frames[0])
    writer.write(frames[1][:8])  # another size: the writer refuses it in the thread
    with pytest.raises(Exception, match="has size 24x8, expected 24x16"):
        for _ in range(100):
            writer.write(frames[2])
            time.sleep(0.01)
        writer.close()
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_encode_behind_abort_discards_the_output(tmp_path):
    writer = EncodeBehind(FrameWriter(tmp_path / "out.mp4"))
    for f in pan_frames(4, 16, 24):
        writer.write(f)
    writer.abort()
    assert list(tmp_path.iterdir()) == [] and not writer._thread.is_alive()

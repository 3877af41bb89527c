"""Cost accounting: only timed work counts; merging shards adds times and keeps the peak."""

from __future__ import annotations

import time

import pytest

from vsrzoo.metrics.cost import CostMeter, device_info, merge_costs, peak_memory


def test_meter_counts_only_timed_work():
    meter = CostMeter("cpu", "float32")
    time.sleep(0.05)  # e.g. model loading: not counted
    assert meter.timed(lambda: time.sleep(0.02) or 7) == 7
    meter.add_frame(1000, 500)
    meter.add_frame(1000, 500)
    rec = meter.record()
    assert 0.02 <= rec["wall_seconds"] < 0.05
    assert rec["frames"] == 2 and rec["megapixel_frames"] == pytest.approx(1.0)
    assert rec["seconds_per_mpf"] == pytest.approx(rec["wall_seconds"])
    assert rec["device_hours"] == pytest.approx(rec["wall_seconds"] / 3600)
    assert rec["memory_kind"] == "process_peak_rss" and rec["peak_memory_bytes"] > 10 * 2**20
    assert rec["device_type"] == "cpu" and rec["device_name"] and rec["dtype"] == "float32"


def test_empty_meter_and_merge():
    assert CostMeter().record()["seconds_per_mpf"] is None
    a = {
        **CostMeter().record(),
        "wall_seconds": 2.0,
        "frames": 4,
        "megapixel_frames": 1.0,
        "device_hours": 2 / 3600,
    }
    b = {**a, "wall_seconds": 6.0, "megapixel_frames": 3.0, "peak_memory_bytes": a["peak_memory_bytes"] + 5}
    merged = merge_costs([a, None, b])
    assert merged["wall_seconds"] == 8.0 and merged["frames"] == 8
    assert merged["seconds_per_mpf"] == pytest.approx(2.0)
    assert merged["peak_memory_bytes"] == b["peak_memory_bytes"]
    assert merge_costs([None]) is None


def test_device_info_and_peak_memory():
    info = device_info("cpu")
    assert info["count"] == 1 and info["threads"] >= 1
    mem, kind = peak_memory("cpu")
    assert mem > 0 and kind == "process_peak_rss"

"""Temporal boundary metric: is a seam in time visible, the way a tile seam is visible in space?

Methods run a video in segments of ``segment_length`` frames (LiftVSR's 8, LiteVSR's 17, ...)
and a segment that starts from another state than the previous one ended with shows as a jump
in time. ``--metrics boundary`` compares consecutive-frame pairs that cross a segment boundary
with pairs inside a segment (reconstruction: vsrzoo's own metric, after issue 13; no paper
defines it).

Segments are those the streaming engine (:func:`vsrzoo.inference.stream_upscale`) runs with its
default overlap O = segment_length // 4: a segment ends at every frame count n >= S with
(n - S) % (S - O) == 0 plus at the last frame, covers the S frames before its end, and frames
covered by two segments are cross-faded. For ``--outputs`` folders ``--segment-length N`` says
the segments are frames [0, N), [N, 2N), ... (no overlap); without it the fields are left empty.

A pair (t-1, t) is *inside* when both frames come from the same single segment, else it
crosses a *boundary* (with no overlap: exactly the pairs where t % S == 0, t > 0; with overlap:
the pairs entering, within and leaving a cross-fade). Fields, per clip over its pairs, then the
mean over clips like every metric:

- ``dpsnr_boundary`` / ``dpsnr_inside``: mean |PSNR(t) - PSNR(t-1)| (dB; needs ground truth);
- ``ewarp_boundary`` / ``ewarp_inside``: mean warping error E*warp (x1e-3) of the pairs, the
  ``ewarp`` metric's flow and mask;
- ``dpsnr_ratio``, ``ewarp_ratio``: boundary / inside; about 1 when seams are invisible, well
  above 1 when they show. A method whose segments are single frames has no inside pairs: empty.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BOUNDARY_FIELDS", "boundary_scores", "expand_boundary", "pair_kinds", "segment_windows"]

BOUNDARY_FIELDS = (
    "dpsnr_boundary",
    "dpsnr_inside",
    "dpsnr_ratio",
    "ewarp_boundary",
    "ewarp_inside",
    "ewarp_ratio",
)
_SOURCE = {"dpsnr": "psnr", "ewarp": "ewarp"}  # field prefix -> the per-frame metric it is computed from


def expand_boundary(names: list[str], has_gt: bool) -> list[str]:
    """``boundary`` -> its fields (the dPSNR ones only with ground truth); every field's source
    metric (psnr, ewarp) is added before it when missing."""
    out: list[str] = []
    for name in names:
        fields = (
            [f for f in BOUNDARY_FIELDS if has_gt or f.startswith("ewarp")] if name == "boundary" else [name]
        )
        for field in fields:
            if field in BOUNDARY_FIELDS:
                out.append(_SOURCE[field.split("_")[0]])
            out.append(field)
    return list(dict.fromkeys(out))


def segment_windows(num_frames: int, segment: int, overlap: int = 0) -> list[tuple[int, int]]:
    """(start, end) of every segment as the streaming engine schedules them."""
    stride = segment - overlap
    ends = list(range(segment, num_frames + 1, stride))
    if not ends or ends[-1] < num_frames:
        ends.append(num_frames)
    return [(max(0, end - segment), end) for end in ends]


def pair_kinds(num_frames: int, segment: int, overlap: int = 0) -> list[str | None]:
    """For each frame t: 'inside' or 'boundary' for the pair (t-1, t); None for t = 0."""
    sources: list[list[int]] = [[] for _ in range(num_frames)]
    emitted = 0
    windows = segment_windows(num_frames, segment, overlap)
    for k, (start, end) in enumerate(windows):
        for t in range(max(start, emitted), end):  # frames already final are not rewritten
            sources[t].append(k)
        emitted = end if k == len(windows) - 1 else end - overlap
    kinds: list[str | None] = [None]
    for t in range(1, num_frames):
        same = sources[t] == sources[t - 1] and len(sources[t]) == 1
        kinds.append("inside" if same else "boundary")
    return kinds


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _ratio(boundary: float | None, inside: float | None) -> float | None:
    if boundary is None or inside is None or (boundary == 0 and inside == 0):
        return None
    return boundary / inside if inside > 0 else float("inf")


def boundary_scores(rows: list[dict], kinds: list[str | None], fields: list[str]) -> dict[str, float | None]:
    """The requested boundary ``fields`` of one clip from its per-frame ``rows`` (as the scorer
    stores them: ``frame``, ``psnr``, ``ewarp`` = error of the pair ending at that frame)."""
    by_frame = {r["frame"]: r for r in rows}
    values: dict[str, dict[str, list[float]]] = {p: {"boundary": [], "inside": []} for p in _SOURCE}
    for t, row in by_frame.items():
        kind = kinds[t] if t < len(kinds) else None
        if kind is None:
            continue
        prev = by_frame.get(t - 1)
        psnrs = (row.get("psnr"), (prev or {}).get("psnr"))
        if all(p is not None and math.isfinite(p) for p in psnrs):  # inf: a frame equal to its GT
            values["dpsnr"][kind].append(abs(psnrs[0] - psnrs[1]))
        if row.get("ewarp") is not None:
            values["ewarp"][kind].append(row["ewarp"])
    out: dict[str, float | None] = {}
    for prefix, by_kind in values.items():
        b, i = _mean(by_kind["boundary"]), _mean(by_kind["inside"])
        out.update({f"{prefix}_boundary": b, f"{prefix}_inside": i, f"{prefix}_ratio": _ratio(b, i)})
    return {f: out[f] for f in fields}

"""Scoring one clip as its frames stream by: per-frame and per-pair metrics, nothing buffered
beyond the previous frame (and one pixel row per frame for the temporal profile)."""

from __future__ import annotations

import numpy as np
import torch

from vsrzoo.bench.boundary import BOUNDARY_FIELDS, boundary_scores, pair_kinds
from vsrzoo.bench.protocol import Protocol, vqa_requested
from vsrzoo.metrics.psnr_ssim import psnr_ssim
from vsrzoo.metrics.temporal import TLPIPS, TOF
from vsrzoo.metrics.warping import WarpingError

__all__ = ["ClipScorer", "mean_or_none"]


def mean_or_none(values) -> float | None:
    """Mean of the values that are not None (``inf`` propagates), or None if there are none."""
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


class ClipScorer:
    """Scores the frames of one clip fed in order with :meth:`add`.

    ``flow``: a flow backend (needed by the warping errors); ``lpips``: a
    :class:`vsrzoo.metrics.lpips.LPIPS` (needed by lpips/tlpips); ``iqa``: name ->
    :class:`vsrzoo.metrics.iqa.IQAMetric` (dists, musiq, clipiqa, niqe); ``vqa``: name ->
    video-level metric (:class:`vsrzoo.metrics.dover.DOVER`), fed the protocol's frames and scored
    once per clip. Without ground truth (``gt=None`` in :meth:`add`) only the metrics that need
    none are computed. ``segments``: (segment length, overlap) the frames were made with, for the
    boundary fields (:mod:`vsrzoo.bench.boundary`); None leaves them empty.
    """

    def __init__(
        self,
        metrics: list[str],
        protocol: Protocol,
        num_frames: int,
        flow=None,
        flow_from: str = "gt",
        lpips=None,
        iqa: dict | None = None,
        segments: tuple[int, int] | None = None,
        vqa: dict | None = None,
    ):
        self.metrics, self.protocol = metrics, protocol
        self.scored = protocol.frame_range(num_frames)
        self.pair_kinds = pair_kinds(num_frames, *segments) if segments is not None else None
        self.lpips = lpips
        self.iqa = {k: v for k, v in (iqa or {}).items() if k in metrics}
        self.vqa = {k: v for k, v in (vqa or {}).items() if k in vqa_requested(metrics)}
        self.videos = {k: v.clip(len(self.scored)) for k, v in self.vqa.items()}
        self.temporal = {}
        if "ewarp" in metrics:
            self.temporal["ewarp"] = WarpingError(flow, "lai", flow_from)
        if "ewarp_evalcrafter" in metrics:
            self.temporal["ewarp_evalcrafter"] = WarpingError(flow, "evalcrafter")
        if "tof" in metrics:
            self.temporal["tof"] = TOF()
        if "tlpips" in metrics:
            self.temporal["tlpips"] = TLPIPS(lpips)
        self.video_scores: dict[str, dict[str, float]] = {}
        self.rows: list[dict] = []
        self.profile_gt: list[np.ndarray] = []
        self.profile_sr: list[np.ndarray] = []
        self.profile_row: int | None = None

    def add(self, index: int, sr: np.ndarray, gt: np.ndarray | None, name: str = "") -> None:
        """Score frame ``index`` (uint8 RGB (H, W, 3), same size as ``gt``) unless the protocol
        skips it; ``gt`` None on datasets without ground truth."""
        if index not in self.scored:
            return
        row: dict = {"frame": index, "name": name}
        if "psnr" in self.metrics or "ssim" in self.metrics:
            p, s = psnr_ssim(sr, gt, self.protocol.crop_border, self.protocol.y_channel)
            row.update(psnr=float(p[0]), ssim=float(s[0]))
        if "lpips" in self.metrics:
            row["lpips"] = float(self.lpips(sr, gt)[0])
        for key, metric in self.iqa.items():
            row[key] = float(metric(sr, gt)[0]) if metric.full_reference else float(metric(sr)[0])
        for views in self.videos.values():
            views.add(index - self.scored.start, sr)
        for key, meter in self.temporal.items():
            row[key] = self._update(meter, sr, gt)
        self.rows.append({k: v for k, v in row.items() if k in ("frame", "name") or k in self.metrics})
        self._add_profile(sr, gt)

    @staticmethod
    def _update(meter, sr: np.ndarray, gt: np.ndarray | None) -> float | None:
        if isinstance(meter, WarpingError):
            return meter.update(_tensor(sr), None if gt is None else _tensor(gt))
        return meter.update(sr, gt)

    def _add_profile(self, sr: np.ndarray, gt: np.ndarray | None) -> None:
        if self.profile_row is None:
            self.profile_row = sr.shape[0] // 2
        if gt is not None:
            self.profile_gt.append(gt[self.profile_row].copy())
        self.profile_sr.append(sr[self.profile_row].copy())

    def summary(self) -> dict[str, float | None]:
        """Clip value of each metric: mean over scored frames (or pairs); the boundary fields
        over the pairs of each kind; video-level metrics score the clip once (on the first call)."""
        fields = [m for m in self.metrics if m in BOUNDARY_FIELDS]
        seams = boundary_scores(self.rows, self.pair_kinds, fields) if self.pair_kinds is not None else {}
        out = {
            m: seams.get(m) if m in BOUNDARY_FIELDS else mean_or_none(r.get(m) for r in self.rows)
            for m in self.metrics
        }
        for name, views in self.videos.items():
            if name not in self.video_scores:
                self.video_scores[name] = self.vqa[name].score(views).as_metrics()
            out.update({k: v for k, v in self.video_scores[name].items() if k in self.metrics})
        return out

    def profiles(self) -> tuple[np.ndarray | None, np.ndarray] | None:
        """(GT, output) temporal profiles: the middle pixel row of each frame, stacked over time
        (GT None without ground truth)."""
        if not self.profile_sr:
            return None
        return (np.stack(self.profile_gt) if self.profile_gt else None), np.stack(self.profile_sr)


def _tensor(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).unsqueeze(0)

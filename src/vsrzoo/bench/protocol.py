"""What a benchmark run measures: protocols, metric names and units, shards.

Protocols (DESIGN.md section 4):

- ``standard``: the dataset's convention (Y for Vid4/UDM10, RGB for REDS4), crop 0, all frames;
- ``duf``: the DUF/TecoGAN-era tables: Y, crop 8, first and last 2 frames skipped.

Metrics and their reported units are listed in :data:`METRICS`. The default set is
``psnr,ssim,ewarp``: it needs no downloaded weights, so ``vsrzoo bench --dataset sample`` runs
offline and a result never depends on what happens to be in the user's cache. LPIPS and tLPIPS
are computed only when asked for (``--metrics psnr,ssim,lpips`` or ``--metrics all``) and then
need the AlexNet backbone under ``$TORCH_HOME``. DOVER (``dover``: overall, technical and
aesthetic) scores whole clips, once per clip, on the protocol's frames.
"""

from __future__ import annotations

from dataclasses import dataclass

from vsrzoo.bench.boundary import expand_boundary
from vsrzoo.errors import UserError, unknown
from vsrzoo.metrics import DOVER_OUTPUTS
from vsrzoo.runtime import (  # re-exported: shards are shared with upscale
    assign_shards,
    parse_shard,
    resolve_shard,
)

__all__ = [
    "DEFAULT_METRICS",
    "IQA_NAMES",
    "METRICS",
    "NO_REFERENCE_DEFAULTS",
    "PROTOCOLS",
    "VQA_OUTPUTS",
    "MetricInfo",
    "Protocol",
    "assign_shards",
    "get_protocol",
    "parse_metrics",
    "parse_shard",
    "resolve_shard",
    "vqa_requested",
]


@dataclass(frozen=True)
class Protocol:
    """How frames are scored: colour space, border crop and frames skipped at each end."""

    name: str
    y_channel: bool
    crop_border: int = 0
    skip_first: int = 0
    skip_last: int = 0

    def frame_range(self, num_frames: int) -> range:
        """Indices of the frames this protocol scores in a clip of ``num_frames``."""
        return range(self.skip_first, num_frames - self.skip_last)


PROTOCOLS = ("standard", "duf")


def get_protocol(name: str, y_channel: bool) -> Protocol:
    """``standard`` with the dataset's colour convention ``y_channel``, or ``duf``."""
    if name == "standard":
        return Protocol("standard", y_channel, 0, 0, 0)
    if name == "duf":
        return Protocol("duf", True, 8, 2, 2)
    raise unknown("protocol", name, PROTOCOLS)


@dataclass(frozen=True)
class MetricInfo:
    """Display name, unit, direction and format of a metric as reported."""

    title: str
    unit: str
    higher_is_better: bool
    fmt: str
    temporal: bool  # computed on pairs of consecutive frames
    needs_gt: bool = True  # full-reference: refused on datasets without ground truth

    @property
    def header(self) -> str:
        arrow = "↑" if self.higher_is_better else "↓"
        return f"{self.title} ({self.unit}) {arrow}" if self.unit else f"{self.title} {arrow}"


METRICS: dict[str, MetricInfo] = {
    "psnr": MetricInfo("PSNR", "dB", True, ".2f", False),
    "ssim": MetricInfo("SSIM", "", True, ".4f", False),
    "lpips": MetricInfo("LPIPS", "", False, ".4f", False),
    "dists": MetricInfo("DISTS", "", False, ".4f", False),
    "ewarp": MetricInfo("E*warp", "x1e-3", False, ".3f", True),  # no GT needed with --flow-from output
    "ewarp_evalcrafter": MetricInfo("E*warp EvalCrafter", "x1e-3", False, ".3f", True, False),
    "tlpips": MetricInfo("tLPIPS", "x100", False, ".3f", True),
    "tof": MetricInfo("tOF", "px", False, ".3f", True),
    # temporal boundary metric (vsrzoo.bench.boundary): pairs across segment boundaries vs inside
    "dpsnr_boundary": MetricInfo("|dPSNR| boundary", "dB", False, ".3f", True),
    "dpsnr_inside": MetricInfo("|dPSNR| inside", "dB", False, ".3f", True),
    "dpsnr_ratio": MetricInfo("|dPSNR| boundary/inside", "", False, ".2f", True),
    "ewarp_boundary": MetricInfo("E*warp boundary", "x1e-3", False, ".3f", True, False),
    "ewarp_inside": MetricInfo("E*warp inside", "x1e-3", False, ".3f", True, False),
    "ewarp_ratio": MetricInfo("E*warp boundary/inside", "", False, ".2f", True, False),
    "musiq": MetricInfo("MUSIQ", "", True, ".2f", False, False),
    "clipiqa": MetricInfo("CLIP-IQA", "", True, ".4f", False, False),
    "niqe": MetricInfo("NIQE", "", False, ".3f", False, False),
    # DOVER: one score per clip (0-100), overall and its two perspectives; 'dover' asks for all three
    "dover": MetricInfo("DOVER", "", True, ".2f", False, False),
    "dover_technical": MetricInfo("DOVER technical", "", True, ".2f", False, False),
    "dover_aesthetic": MetricInfo("DOVER aesthetic", "", True, ".2f", False, False),
}
DEFAULT_METRICS = ("psnr", "ssim", "ewarp")
# without ground truth (LQ-only folders): the papers' no-reference image metrics
NO_REFERENCE_DEFAULTS = ("niqe", "musiq", "clipiqa")
IQA_NAMES = ("dists", "musiq", "clipiqa", "niqe")  # computed by vsrzoo.metrics.iqa (pyiqa)
# video-level metric -> the outputs it reports (vsrzoo.metrics.dover); asking for it asks for all
VQA_OUTPUTS = {"dover": DOVER_OUTPUTS}


def parse_metrics(spec: str | list[str] | tuple[str, ...] | None, has_gt: bool = True) -> list[str]:
    """``None`` -> the defaults; ``'all'`` -> every metric; else a comma list, validated.

    Without ground truth the defaults are the no-reference ones, 'all' means every metric that
    needs no GT, and a full-reference metric is a UserError."""
    if spec is None:
        return list(DEFAULT_METRICS if has_gt else NO_REFERENCE_DEFAULTS)
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    names = expand_boundary(names, has_gt)  # 'boundary' -> its fields and their source metrics
    if names == ["all"]:
        return [m for m in METRICS if has_gt or not METRICS[m].needs_gt or m == "ewarp"]
    if not names:
        raise UserError(f"no metrics given; valid: {', '.join(METRICS)} (or 'all')")
    for name in names:
        if name not in METRICS:
            raise unknown("metric", name, list(METRICS) + ["boundary", "all"])
    refused = [m for m in names if not has_gt and METRICS[m].needs_gt and m != "ewarp"]
    if refused:
        allowed = ", ".join(m for m in METRICS if not METRICS[m].needs_gt or m == "ewarp")
        raise UserError(
            f"the dataset has no ground truth: {', '.join(refused)} need it; use no-reference metrics ({allowed})"
        )
    return list(dict.fromkeys(n for name in names for n in VQA_OUTPUTS.get(name, (name,))))


def vqa_requested(metric_names) -> list[str]:
    """The video-level metrics (keys of :data:`VQA_OUTPUTS`) any of whose outputs is requested."""
    return [v for v, outs in VQA_OUTPUTS.items() if set(outs) & set(metric_names)]

"""Published results, shown beside the measured rows of a report and marked "published, not
measured here". Only numbers printed in the cited papers (collected in DESIGN.md sections 4-5);
``setting`` says under which LR and protocol each was measured, because a number is comparable
only with a run under the same setting.

Sources:
- Bicubic Vid4 anchor: the BI x4 Vid4 row reported across VSR papers (e.g. BasicVSR++ tables);
- BasicVSR++: Chan et al., "BasicVSR++: Improving Video Super-Resolution with Enhanced
  Propagation and Alignment", CVPR 2022, arXiv 2104.13371;
- IART: Xu et al., "Enhancing Video Super-Resolution via Implicit Resampling-based Alignment",
  CVPR 2024, arXiv 2305.00163;
- DOVE: Chen et al., "DOVE: Efficient One-Step Diffusion Model for Real-World Video
  Super-Resolution", arXiv 2505.16239 (its UDM10 table also lists STAR, Upscale-A-Video and
  MGLD-VSR on DOVE's degraded UDM10);
- SimpleGVR: arXiv 2506.19838 (AIGC100, not public).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PUBLISHED", "PublishedRow", "published_rows"]


@dataclass(frozen=True)
class PublishedRow:
    method: str
    dataset: str  # vsrzoo dataset preset name (or the paper's set name when not public)
    setting: str  # LR and protocol the number was measured under
    metric: str  # vsrzoo metric name
    value: float
    source: str


_BPP = "BasicVSR++ (arXiv 2104.13371)"
_IART = "IART (arXiv 2305.00163)"
_DOVE = "DOVE (arXiv 2505.16239)"
_GVR = "SimpleGVR (arXiv 2506.19838)"
PUBLISHED: tuple[PublishedRow, ...] = (
    PublishedRow("bicubic", "vid4", "BIx4, Y, crop 0", "psnr", 23.78, "VSR papers' Vid4 BI tables"),
    PublishedRow("bicubic", "vid4", "BIx4, Y, crop 0", "ssim", 0.6347, "VSR papers' Vid4 BI tables"),
    PublishedRow("BasicVSR++", "vid4", "BIx4, Y", "psnr", 27.79, _BPP),
    PublishedRow("BasicVSR++", "reds4", "sharp_bicubic x4, RGB", "psnr", 32.39, _BPP),
    PublishedRow("BasicVSR++", "udm10", "BDx4, Y", "psnr", 40.72, _BPP),
    PublishedRow("IART", "vid4", "BIx4, Y", "psnr", 28.26, _IART),
    PublishedRow("IART", "reds4", "sharp_bicubic x4, RGB", "psnr", 32.90, _IART),
    PublishedRow("DOVE", "udm10", "DOVE's real-world degradation", "psnr", 26.48, _DOVE),
    PublishedRow("DOVE", "udm10", "DOVE's real-world degradation", "lpips", 0.270, _DOVE),
    PublishedRow("DOVE", "udm10", "DOVE's real-world degradation", "ewarp", 1.77, _DOVE),
    PublishedRow("STAR", "udm10", "DOVE's real-world degradation", "psnr", 23.47, _DOVE),
    PublishedRow("Upscale-A-Video", "udm10", "DOVE's real-world degradation", "psnr", 21.72, _DOVE),
    PublishedRow("MGLD-VSR", "udm10", "DOVE's real-world degradation", "psnr", 24.23, _DOVE),
    PublishedRow("SimpleGVR", "AIGC100", "512p -> 1080p latent cascade", "musiq", 62.35, _GVR),
    PublishedRow("SimpleGVR", "AIGC100", "512p -> 1080p latent cascade", "dover", 71.34, _GVR),
)


def published_rows(dataset: str) -> list[PublishedRow]:
    """The published rows for a vsrzoo dataset preset (any metric)."""
    return [r for r in PUBLISHED if r.dataset == dataset]

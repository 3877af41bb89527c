"""DOVER, a no-reference video quality metric: technical, aesthetic and overall scores.

Wu et al., "Exploring Video Quality Assessment on User Generated Contents from Aesthetic and
Technical Perspectives", ICCV 2023 (arXiv 2211.04894); reference code and weights
github.com/VQAssessment/DOVER (read, not copied; the networks are in :mod:`vsrzoo.metrics.vqa_arch`).
The official ``DOVER.pth`` loads with strict key matching; it is read weights-only from
``$TORCH_HOME/hub/checkpoints/DOVER.pth`` and never downloaded (a missing file is a one-line
:class:`MissingWeightsError` raised by :func:`check_weights` before any work).

What is followed, from the reference ``dover.yml`` (its ``val-l1080p`` views, as the scripts use)
and ``evaluate_a_set_of_videos.py``:

- technical view: 3 segments of 32 frames at interval 2 (segment ``i`` starts at ``i * n // 3``
  plus a random offset when the segment is longer than 64 frames; indices wrap modulo ``n``), each
  frame cut into a 7x7 grid of 32x32 fragments (a random offset inside each grid cell, the same
  for the 32 frames of a segment), frames with a side under 224 px first upsampled bilinearly so
  the short side is 224; Video Swin-T with GRPB, one score per segment;
- aesthetic view: 32 frames, one per ``n // 32`` span (random offset in the span), resized to
  224x224 (bilinear, no antialias: torchvision's tensor ``Resize`` of the reference's torch 1.13);
  ConvNeXt-T 3D;
- pixels normalised with the ImageNet mean/std on the 0-255 scale; each head's map and segments
  averaged into a raw score;
- scores as in ``evaluate_a_set_of_videos.py`` (the numbers the papers quote, x100):
  ``t = (raw_t - 0.1107) / 0.07355``, ``a = (raw_a + 0.08285) / 0.03774``,
  technical = 100 sigmoid(t), aesthetic = 100 sigmoid(a), overall = 100 sigmoid(0.6104 t + 0.3896 a).

Reconstruction (our choices, configurable in :class:`ViewSpec`):

- the reference draws the random offsets unseeded; here they come from generators seeded with
  ``ViewSpec.seed`` so a clip always gets the same score;
- for frames with a side under 224 px the reference lays the fragment grid on the size *before*
  upsampling (only the top-left part is sampled; frames under 32 px fail); here the grid is laid
  on the upsampled frame. Identical for frames of at least 224x224.

Frames are taken as they stream by: only the sampled frames are kept, already cut to their
224x224 views, so a long 4K clip costs 128 small views of memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vsrzoo.errors import UserError
from vsrzoo.metrics import DOVER_OUTPUTS
from vsrzoo.weight_files import WeightFile, load_exact, read_state, require_files

__all__ = ["DOVER", "DOVER_FILE", "DOVER_OUTPUTS", "DOVERNet", "DOVERScores", "ViewSpec", "check_weights"]

DOVER_FILE = WeightFile(
    "DOVER.pth",
    "checkpoints",
    "https://github.com/QualityAssessment/DOVER/releases/download/v0.1.0/DOVER.pth",
)
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
# evaluate_a_set_of_videos.py: raw head outputs -> standardised technical/aesthetic, fusion weights
TECHNICAL_MEAN_STD = (0.1107, 0.07355)
AESTHETIC_MEAN_STD = (-0.08285, 0.03774)
FUSION = (0.6104, 0.3896)


def check_weights() -> list:
    """[path of DOVER.pth], or a one-line MissingWeightsError naming it, its folder and its source."""
    return require_files("dover", (DOVER_FILE,))


@dataclass(frozen=True)
class ViewSpec:
    """How DOVER samples a clip (defaults: the reference ``dover.yml``; see the module docstring)."""

    fragments: int = 7  # per side
    fragment_size: int = 32
    clip_len: int = 32  # technical frames per segment
    segments: int = 3  # technical segments (``num_clips`` of the reference)
    frame_interval: int = 2
    aesthetic_size: int = 224
    aesthetic_frames: int = 32
    antialias: bool = False  # aesthetic resize (the reference's torchvision did not antialias tensors)
    seed: int = 0  # reconstruction: the reference's offsets are unseeded

    @property
    def size(self) -> int:
        return self.fragments * self.fragment_size


def segment_indices(
    n: int, seg_len: int, segments: int, interval: int, rng: np.random.Generator
) -> np.ndarray:
    """Frame indices: ``segments`` runs of ``seg_len`` frames ``interval`` apart, one per ``n //
    segments`` span at a random offset when the span is longer than a run, wrapped modulo ``n``."""
    span = n // segments
    starts = np.arange(segments) * span
    if span > seg_len * interval:
        starts = starts + rng.integers(0, span - seg_len * interval, size=segments)
    return ((starts[:, None] + np.arange(seg_len)[None] * interval).reshape(-1) % n).astype(np.int64)


class DOVERNet(nn.Module):
    """DOVER's two branches and heads, named as in ``DOVER.pth``."""

    def __init__(self, swin: dict | None = None, convnext: dict | None = None):
        super().__init__()
        from vsrzoo.metrics.vqa_arch import ConvNeXt3D, SwinTransformer3D, VQAHead

        self.technical_backbone = SwinTransformer3D(**(swin or {}))
        self.aesthetic_backbone = ConvNeXt3D(**(convnext or {}))
        self.technical_head = VQAHead(self.technical_backbone.norm.normalized_shape[0])
        self.aesthetic_head = VQAHead(self.aesthetic_backbone.norm.normalized_shape[0])

    def forward(self, technical: torch.Tensor, aesthetic: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw scores from (segments, 3, T, H, W) and (1, 3, T, H, W) normalised views."""
        tech = torch.stack(
            [self.technical_head(self.technical_backbone(seg[None])).mean() for seg in technical]
        ).mean()  # one segment at a time: the attention maps of three at once take GBs
        aes = self.aesthetic_head(self.aesthetic_backbone(aesthetic)).mean()
        return tech, aes


@dataclass(frozen=True)
class DOVERScores:
    """DOVER's three scores (0-100, higher is better) and the raw head outputs they come from."""

    overall: float
    technical: float
    aesthetic: float
    raw_technical: float
    raw_aesthetic: float

    @classmethod
    def from_raw(cls, raw_t: float, raw_a: float) -> DOVERScores:
        t = (raw_t - TECHNICAL_MEAN_STD[0]) / TECHNICAL_MEAN_STD[1]
        a = (raw_a - AESTHETIC_MEAN_STD[0]) / AESTHETIC_MEAN_STD[1]
        sig = lambda v: 100.0 / (1.0 + float(np.exp(-v)))  # noqa: E731
        return cls(sig(FUSION[0] * t + FUSION[1] * a), sig(t), sig(a), raw_t, raw_a)

    def as_metrics(self) -> dict[str, float]:
        return dict(zip(DOVER_OUTPUTS, (self.overall, self.technical, self.aesthetic)))


class ClipViews:
    """Collects DOVER's two views of one clip of ``num_frames`` frames fed in order with :meth:`add`."""

    def __init__(self, spec: ViewSpec, num_frames: int):
        if num_frames < 1:
            raise ValueError("a clip has at least one frame")
        self.spec, self.n = spec, num_frames
        rng = np.random.default_rng(spec.seed)
        self.technical_idx = segment_indices(
            num_frames, spec.clip_len, spec.segments, spec.frame_interval, rng
        )
        self.aesthetic_idx = segment_indices(num_frames, 1, spec.aesthetic_frames, spec.frame_interval, rng)
        self.technical: dict[int, torch.Tensor] = {}  # position in the view -> (3, S, S)
        self.aesthetic: dict[int, torch.Tensor] = {}
        self.offsets: tuple[torch.Tensor, ...] | None = None  # drawn at the first frame
        self.frame_size: tuple[int, int] | None = None

    def add(self, index: int, frame: np.ndarray) -> None:
        """Frame ``index`` (uint8 RGB (H, W, 3)); frames not sampled are dropped at once."""
        if self.frame_size is None:
            self.frame_size = frame.shape[:2]
        if frame.shape[:2] != self.frame_size:
            h, w = self.frame_size
            raise UserError(
                f"dover: frames of one clip must share a size; frame {index} is "
                f"{frame.shape[1]}x{frame.shape[0]}, the first was {w}x{h}"
            )
        t_pos = np.flatnonzero(self.technical_idx == index)
        a_pos = np.flatnonzero(self.aesthetic_idx == index)
        if not len(t_pos) and not len(a_pos):
            return
        x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)
        if len(a_pos):
            view = self._resized(x)
            for p in a_pos:
                self.aesthetic[int(p)] = view
        if len(t_pos):
            big = self._upsampled(x)
            for p in t_pos:
                self.technical[int(p)] = self._fragments(big, int(p) // self.spec.clip_len)

    def _resized(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spec.aesthetic_size
        y = F.interpolate(
            x[None].float(), size=(s, s), mode="bilinear", align_corners=False, antialias=self.spec.antialias
        )
        return y[0].round().clamp(0, 255)

    def _upsampled(self, x: torch.Tensor) -> torch.Tensor:
        """Frames with a side under the view size: bilinear upsampling, as the reference (0-1 scale,
        truncated back to uint8)."""
        ratio = min(x.shape[1] / self.spec.size, x.shape[2] / self.spec.size)
        if ratio >= 1:
            return x.float()
        y = F.interpolate(x[None].float() / 255.0, scale_factor=1 / ratio, mode="bilinear")
        return (y[0] * 255.0).to(torch.uint8).float()

    def _fragments(self, x: torch.Tensor, segment: int) -> torch.Tensor:
        spec, (h, w) = self.spec, x.shape[1:]
        k, fs = spec.fragments, spec.fragment_size
        if self.offsets is None:  # one draw per clip: rows then columns, as the reference
            gen = torch.Generator().manual_seed(spec.seed)
            self.offsets = tuple(self._draw(cell, gen) for cell in (h // k, w // k))
        rh, rw = self.offsets
        out = torch.empty(3, k * fs, k * fs)
        for i in range(k):
            top = min(h // k * i, h - fs)
            for j in range(k):
                left = min(w // k * j, w - fs)
                y0, x0 = top + int(rh[i, j, segment]), left + int(rw[i, j, segment])
                out[:, i * fs : (i + 1) * fs, j * fs : (j + 1) * fs] = x[:, y0 : y0 + fs, x0 : x0 + fs]
        return out

    def _draw(self, cell: int, gen: torch.Generator) -> torch.Tensor:
        """Offsets of the fragments inside their grid cells, per cell and segment."""
        shape = (self.spec.fragments, self.spec.fragments, self.spec.segments)
        if cell > self.spec.fragment_size:
            return torch.randint(cell - self.spec.fragment_size, shape, generator=gen)
        return torch.zeros(shape, dtype=torch.long)

    def views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised (segments, 3, clip_len, S, S) technical and (1, 3, T, S', S') aesthetic views."""
        missing = sorted(
            {int(self.technical_idx[p]) for p in range(len(self.technical_idx)) if p not in self.technical}
            | {int(self.aesthetic_idx[p]) for p in range(len(self.aesthetic_idx)) if p not in self.aesthetic}
        )
        if missing:
            raise ValueError(f"dover: sampled frames never added: {missing[:5]}")
        spec = self.spec
        tech = torch.stack([self.technical[p] for p in range(len(self.technical_idx))], 1)
        tech = tech.unflatten(1, (spec.segments, spec.clip_len)).transpose(0, 1)
        aes = torch.stack([self.aesthetic[p] for p in range(len(self.aesthetic_idx))], 1)[None]
        norm = lambda v: (v - MEAN[:, None]) / STD[:, None]  # noqa: E731
        return norm(tech), norm(aes)


DEFAULT_SPEC = ViewSpec()  # the reference views
DEFAULT_NET: dict = {}  # DOVERNet arguments: the official sizes


class DOVER(nn.Module):
    """DOVER on whole clips: ``DOVER()(frames)`` -> :class:`DOVERScores`, or, streaming,
    ``views = dover.clip(n)``, ``views.add(i, frame)`` for each frame, ``dover.score(views)``.

    ``spec`` changes the view sampling (defaults: the reference); ``net`` replaces the network
    sizes (tests pass small views and reduced depths; the bench uses :data:`DEFAULT_SPEC` and
    :data:`DEFAULT_NET`, the official ones)."""

    full_reference = False

    def __init__(
        self, device: str | torch.device = "cpu", spec: ViewSpec | None = None, net: dict | None = None
    ):
        super().__init__()
        path = check_weights()[0]
        self.spec = spec or DEFAULT_SPEC
        self.net = DOVERNet(**(net or DEFAULT_NET))
        load_exact(self.net, read_state(path), path)
        self.device = torch.device(device)
        self.net.eval().requires_grad_(False).to(self.device)

    def describe(self) -> str:
        s = self.spec
        return (
            f"DOVER ({DOVER_FILE.name}): technical {s.segments}x{s.clip_len} frames of {s.fragments}x{s.fragments} "
            f"{s.fragment_size}px fragments, aesthetic {s.aesthetic_frames} frames at {s.aesthetic_size}px, seed {s.seed}"
        )

    def clip(self, num_frames: int) -> ClipViews:
        return ClipViews(self.spec, num_frames)

    @torch.no_grad()
    def score(self, views: ClipViews) -> DOVERScores:
        tech, aes = views.views()
        raw_t, raw_a = self.net(tech.to(self.device), aes.to(self.device))
        return DOVERScores.from_raw(float(raw_t), float(raw_a))

    def forward(self, frames) -> DOVERScores:
        """Scores of a clip: uint8 RGB frames, (N, H, W, 3) array or a sequence of (H, W, 3)."""
        frames = list(frames)
        views = self.clip(len(frames))
        for i, frame in enumerate(frames):
            views.add(i, frame)
        return self.score(views)

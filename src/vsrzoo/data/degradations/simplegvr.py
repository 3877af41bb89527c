"""SimpleGVR's flow-based degradation (arXiv 2506.19838, Sec. 3.2 "degradation"), imitating T2V artifacts.

The paper trains its cascaded VSR stage on LR videos that carry the artifacts of a
text-to-video base model: it estimates DIS optical flow between adjacent frames, derives
motion masks, lets colour from the previous frame bleed into elliptical regions of the moving
areas with a distance-based weight, and applies block-wise motion blur whose length and
direction follow the local motion. Static regions stay untouched.

reconstruction: the paper gives the recipe, not the numbers; every value below is ours and an argument:
- the LR is first made with the BI degradation (``scale``; 1 = artifacts only) and the
  artifacts are added at LR resolution, where the base model's output lives;
- flow is OpenCV DIS (``flow_preset``) from frame t to frame t-1 on grey frames; a pixel
  moves when its flow exceeds ``motion_threshold`` LR pixels;
- 1..3 ellipses per frame are centred on random moving pixels, with semi-axes drawn as a
  fraction of the short side and a random angle; the bleed weight falls linearly from the
  centre to the rim (``bleed_strength`` at the centre) and is zero outside moving pixels;
- the blur is applied per ``blur_block`` x ``blur_block`` block that contains motion, with a
  line kernel along the block's mean flow and ``blur_gain`` x its length (capped at
  ``max_blur_length``), and replaces only the moving pixels of the block;
- strength and gain are drawn once per clip; ellipse positions per frame (they follow motion).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from vsrzoo.data.degradations.base import Degradation
from vsrzoo.data.degradations.classic import BI
from vsrzoo.errors import UserError

FLOW_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def dis_flow(src: np.ndarray, dst: np.ndarray, preset: str = "medium") -> np.ndarray:
    """DIS optical flow (H, W, 2) such that ``src[y, x]`` matches ``dst[y + fy, x + fx]``."""
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) if f.ndim == 3 else f for f in (src, dst)]
    dis = cv2.DISOpticalFlow_create(FLOW_PRESETS[preset])
    return dis.calc(gray[0], gray[1], None)


def line_kernel(length: float, angle: float) -> np.ndarray:
    """A normalised linear motion-blur kernel of ``length`` pixels at ``angle`` (radians), sub-pixel exact."""
    size = 2 * math.ceil(length / 2) + 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    for s in np.linspace(-length / 2, length / 2, max(2, math.ceil(4 * length))):
        x, y = c + s * math.cos(angle), c + s * math.sin(angle)
        x0, y0 = math.floor(x), math.floor(y)
        fx, fy = x - x0, y - y0
        for dy, dx, w in (
            (0, 0, (1 - fx) * (1 - fy)),
            (0, 1, fx * (1 - fy)),
            (1, 0, (1 - fx) * fy),
            (1, 1, fx * fy),
        ):
            if 0 <= y0 + dy < size and 0 <= x0 + dx < size:
                kernel[y0 + dy, x0 + dx] += w
    return kernel / kernel.sum()


def ellipse_weight(
    shape: tuple[int, int], centre: tuple[float, float], axes: tuple[float, float], angle: float
) -> np.ndarray:
    """1 at the centre, falling linearly to 0 at the rim of the ellipse, 0 outside."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    dx, dy = xx - centre[1], yy - centre[0]
    u = (dx * math.cos(angle) + dy * math.sin(angle)) / axes[0]
    v = (-dx * math.sin(angle) + dy * math.cos(angle)) / axes[1]
    return np.clip(1 - np.sqrt(u**2 + v**2), 0, 1)


class SimpleGVRFlow(Degradation):
    """BI downscaling followed by flow-guided colour bleeding and block-wise motion blur."""

    name = "simplegvr_flow"
    folder_prefix = "GVRFlow"
    temporal = True

    def __init__(
        self,
        scale: int = 4,
        flow_preset: str = "medium",
        motion_threshold: float = 1.0,
        bleed_prob: float = 1.0,
        num_ellipses: tuple[int, int] = (1, 3),
        ellipse_axes: tuple[float, float] = (0.1, 0.3),
        bleed_strength: tuple[float, float] = (0.3, 0.7),
        blur_prob: float = 1.0,
        blur_block: int = 16,
        blur_gain: tuple[float, float] = (0.5, 1.5),
        max_blur_length: float = 25.0,
    ):
        super().__init__(scale)
        if flow_preset not in FLOW_PRESETS:
            raise UserError(
                f"degradation 'simplegvr_flow': unknown flow_preset '{flow_preset}'; valid: {', '.join(FLOW_PRESETS)}"
            )
        self.flow_preset, self.motion_threshold = flow_preset, float(motion_threshold)
        self.bleed_prob, self.num_ellipses = float(bleed_prob), tuple(int(n) for n in num_ellipses)
        self.ellipse_axes, self.bleed_strength = tuple(ellipse_axes), tuple(bleed_strength)
        self.blur_prob, self.blur_block = float(blur_prob), int(blur_block)
        self.blur_gain, self.max_blur_length = tuple(blur_gain), float(max_blur_length)

    def apply(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lr = BI(self.scale).apply(clip, rng) if self.scale > 1 else clip
        if max(lr.shape[1:3]) < 12:
            raise UserError(
                f"degradation 'simplegvr_flow': DIS optical flow needs LR frames of at least 12 px, "
                f"got {lr.shape[2]}x{lr.shape[1]}; use larger crops"
            )
        bleed = rng.uniform(*self.bleed_strength) if rng.uniform() < self.bleed_prob else 0.0
        gain = rng.uniform(*self.blur_gain) if rng.uniform() < self.blur_prob else 0.0
        out = [lr[0]]
        for t in range(1, len(lr)):
            flow = dis_flow(lr[t], lr[t - 1], self.flow_preset)
            moving = np.linalg.norm(flow, axis=-1) > self.motion_threshold
            frame = lr[t].astype(np.float32)
            if moving.any() and bleed > 0:
                frame = self.bleed(frame, lr[t - 1].astype(np.float32), moving, bleed, rng)
            if moving.any() and gain > 0:
                frame = self.motion_blur(frame, flow, moving, gain)
            out.append(np.clip(np.round(frame), 0, 255).astype(np.uint8))
        return np.stack(out)

    def bleed(
        self,
        frame: np.ndarray,
        prev: np.ndarray,
        moving: np.ndarray,
        strength: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Blend the previous frame's colour into elliptical regions centred on moving pixels."""
        ys, xs = np.nonzero(moving)
        short = min(moving.shape)
        weight = np.zeros(moving.shape, np.float32)
        for _ in range(int(rng.integers(self.num_ellipses[0], self.num_ellipses[1] + 1))):
            i = int(rng.integers(len(ys)))
            axes = (
                max(1.0, rng.uniform(*self.ellipse_axes) * short),
                max(1.0, rng.uniform(*self.ellipse_axes) * short),
            )
            weight = np.maximum(
                weight, ellipse_weight(moving.shape, (ys[i], xs[i]), axes, rng.uniform(0, math.pi))
            )
        weight = (strength * weight * moving)[..., None]
        return frame * (1 - weight) + prev * weight

    def motion_blur(self, frame: np.ndarray, flow: np.ndarray, moving: np.ndarray, gain: float) -> np.ndarray:
        """Blur each block with motion along its mean flow; only moving pixels are replaced."""
        out = frame.copy()
        h, w = moving.shape
        b = self.blur_block
        for y0 in range(0, h, b):
            for x0 in range(0, w, b):
                mask = moving[y0 : y0 + b, x0 : x0 + b]
                if not mask.any():
                    continue
                v = flow[y0 : y0 + b, x0 : x0 + b][mask].mean(axis=0)
                length = min(gain * float(np.hypot(v[0], v[1])), self.max_blur_length)
                if length < 1:
                    continue
                kernel = line_kernel(length, math.atan2(v[1], v[0]))
                p = kernel.shape[0] // 2
                ya, xa = max(0, y0 - p), max(0, x0 - p)
                region = frame[ya : min(h, y0 + b + p), xa : min(w, x0 + b + p)]
                blurred = cv2.filter2D(region, -1, kernel, borderType=cv2.BORDER_REFLECT)
                block = blurred[y0 - ya : y0 - ya + mask.shape[0], x0 - xa : x0 - xa + mask.shape[1]]
                out[y0 : y0 + b, x0 : x0 + b][mask] = block[mask]
        return out

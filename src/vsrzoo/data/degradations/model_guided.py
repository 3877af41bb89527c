"""SimpleGVR's model-guided degradation (arXiv 2506.19838, Sec. 3.2): the base model's own artifacts.

The paper degrades training LR videos so that they look like the output of its first-stage
text-to-video model: the LR latent is noised with strength ``alpha`` in [0.3, 0.4] and partially
denoised by the base model (SDEdit, Meng et al. arXiv 2108.01073), so what the base model would
hallucinate at 512p appears in the LR the VSR stage learns to correct.

What the paper fixes: the SDEdit procedure and ``alpha`` in [0.3, 0.4]. Its base model is
internal; any diffusers video DiT with a Wan-layout folder (``transformer/`` and ``vae/``, e.g.
``Wan-AI/Wan2.1-T2V-1.3B-Diffusers``) serves here.

reconstruction (ours, each an argument):
- LR is first made by the BI degradation (``scale``), then encoded by the folder's VAE; frames
  are padded to ``1 + 4k`` by repeating the last one and space to the latent grid by edge
  replication, both cropped off after decoding;
- Euler flow-matching steps (``num_inference_steps``) from ``t = alpha`` to 0 with the SD3
  ``shift``, on a null caption (zeros, or precomputed empty-prompt embeddings from
  ``prompt_embeds``: the paper's text prompts are not available to a VSR data pipeline);
- ``alpha`` and the noise are drawn from the clip's seed, so the same seed gives the same bytes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vsrzoo.data.degradations.base import Degradation
from vsrzoo.data.degradations.classic import BI
from vsrzoo.errors import UserError


class ModelGuided(Degradation):
    """BI downscale, then SDEdit with a diffusers video DiT loaded from ``model`` (Hub id or folder)."""

    name = "simplegvr_model"
    folder_prefix = "MG"
    temporal = True

    def __init__(
        self,
        scale: int = 4,
        model: str | None = None,
        family: str = "wan2.1",
        strength: tuple[float, float] = (0.3, 0.4),
        num_inference_steps: int = 10,
        shift: float = 1.0,
        prompt_embeds: str | None = None,
        device: str = "cpu",
    ):
        super().__init__(scale)
        if model is None:
            raise UserError(
                "degradation 'simplegvr_model' needs model=<diffusers video DiT folder or Hub id with "
                "transformer/ and vae/ subfolders>, e.g. Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
            )
        lo, hi = (float(s) for s in strength)
        if not 0.0 < lo <= hi <= 1.0:
            raise UserError(
                f"degradation 'simplegvr_model': strength must satisfy 0 < low <= high <= 1, got {strength}"
            )
        if num_inference_steps < 1:
            raise UserError(
                f"degradation 'simplegvr_model': num_inference_steps must be >= 1, got {num_inference_steps}"
            )
        self.model, self.family, self.strength = model, family, (lo, hi)
        self.num_inference_steps, self.shift = int(num_inference_steps), float(shift)
        self.prompt_embeds, self.device = prompt_embeds, device
        self._nets = None

    def _load(self):
        """The transformer, codec and null caption, loaded once per process (lazily, for workers)."""
        if self._nets is None:
            from vsrzoo.backbones import CaptionEmbedding, create_backbone

            vae = "wan2.2-vae" if self.family == "wan2.2" else "wan2.1-vae"
            dit = "wan2.2-ti2v-5b" if self.family == "wan2.2" else "wan2.1-t2v-1.3b"
            transformer = create_backbone(dit, pretrained=self.model).to(self.device).eval()
            codec = create_backbone(vae, pretrained=self.model).to(self.device).eval()
            text_dim = transformer.config.text_dim
            caption = (
                CaptionEmbedding.from_file(self.prompt_embeds, dim=text_dim)
                if self.prompt_embeds
                else CaptionEmbedding(text_dim, length=16)
            ).to(self.device)
            self._nets = transformer, codec, caption
        return self._nets

    @torch.no_grad()
    def apply(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from vsrzoo.diffusion.samplers import euler_flow_sample

        lr = BI(self.scale).apply(clip, rng)
        transformer, codec, caption = self._load()
        x, (t, h, w) = self._to_video(lr, codec)
        z = codec.encode(x)
        alpha = float(rng.uniform(*self.strength))
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        noise = torch.randn(z.shape, generator=generator).to(z)
        z_t = alpha * noise + (1 - alpha) * z
        text, _ = caption(z.shape[0])

        def velocity(x_t: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
            return transformer(x_t, timestep=time * 1000, encoder_hidden_states=text, return_dict=False)[0]

        z0 = euler_flow_sample(velocity, z_t, self.num_inference_steps, self.shift, t_start=alpha)
        out = codec.decode(z0)[0, :, :t, :h, :w]
        return ((out.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy()

    def _to_video(self, lr: np.ndarray, codec) -> tuple[torch.Tensor, tuple[int, int, int]]:
        """uint8 (T, h, w, 3) -> (1, 3, 1 + 4k, H', W') in [-1, 1] on the latent grid."""
        t, h, w = lr.shape[:3]
        x = torch.from_numpy(lr).to(self.device).permute(3, 0, 1, 2).float().div(127.5).sub(1).unsqueeze(0)
        frames = -(t - 1) % codec.temporal_factor
        x = torch.cat([x, x[:, :, -1:].expand(-1, -1, frames, -1, -1)], dim=2) if frames else x
        grid = codec.spatial_factor * 2  # the DiT patchifies the latent by 2x2
        pad_h, pad_w = -h % grid, -w % grid
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h, 0, 0), mode="replicate")
        return x, (t, h, w)

"""Shared building blocks of the vsrzoo methods: plain nn.Modules, no Lightning, no I/O (but LPIPS's local weights).

- :class:`TokenFlowAttention`: LiftVSR's Dynamic Temporal Attention (arXiv 2506.08529).
- :class:`AttentionMemoryCache`: LiftVSR's Attention Memory Cache (arXiv 2506.08529).
- :class:`FlowMatchingAdapter`: LiteVSR's State-Aware Adapter and injection layers (arXiv 2606.09250).
- :class:`SparseLocalAttention`, :func:`sparse_local_attention`, :func:`interleaved_temporal_windows`:
  SimpleGVR's block-sparse local attention and temporal units (arXiv 2506.19838).
- :class:`FlowGuidedRegularizer`: InstaVSR's flow-guided temporal regulariser (arXiv 2603.26134).
- :func:`flow_warp`, :func:`occlusion_mask`: backward warping and Lai et al.'s occlusion test.
- :class:`DISFlow`, :func:`estimate_flow`, :func:`upsample_flow`: OpenCV's DIS optical flow, flow
  between (small) frames, LR flow to HR (InstaVSR's recurrence and the temporal metrics).
- :func:`lpips_network`: the LPIPS network (arXiv 1801.03924), InstaVSR's perceptual loss and the
  LPIPS metric; the one block that reads weight files (local only, never downloaded).
- :func:`gan_generator_loss`, :func:`gan_discriminator_loss`: hinge / non-saturating GAN losses.
"""

from vsrzoo.blocks.adapter import FlowMatchingAdapter, LowRankLinear, timestep_embedding
from vsrzoo.blocks.flow import DISFlow, estimate_flow, upsample_flow
from vsrzoo.blocks.losses import gan_discriminator_loss, gan_generator_loss
from vsrzoo.blocks.lpips import lpips_network
from vsrzoo.blocks.memory_cache import AttentionMemoryCache
from vsrzoo.blocks.regularizer import FlowGuidedRegularizer
from vsrzoo.blocks.sparse_attention import (
    SparseLocalAttention,
    dense_local_attention,
    interleaved_temporal_windows,
    select_blocks,
    sparse_local_attention,
)
from vsrzoo.blocks.token_flow import TokenFlowAttention
from vsrzoo.blocks.warp import flow_warp, in_frame_mask, motion_boundary_mask, occlusion_mask, sampling_grid

__all__ = [
    "AttentionMemoryCache",
    "DISFlow",
    "FlowGuidedRegularizer",
    "FlowMatchingAdapter",
    "LowRankLinear",
    "SparseLocalAttention",
    "TokenFlowAttention",
    "dense_local_attention",
    "estimate_flow",
    "flow_warp",
    "gan_discriminator_loss",
    "gan_generator_loss",
    "in_frame_mask",
    "interleaved_temporal_windows",
    "lpips_network",
    "motion_boundary_mask",
    "occlusion_mask",
    "sampling_grid",
    "select_blocks",
    "sparse_local_attention",
    "timestep_embedding",
    "upsample_flow",
]

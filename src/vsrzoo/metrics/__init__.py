"""Video super-resolution metrics: PSNR/SSIM (BasicSR protocol), LPIPS, warping error,
tOF/tLPIPS, optical flow backends and inference cost.

Heavy dependencies (lpips, torchvision RAFT) load only when their metric is built.
"""

from vsrzoo.metrics.cost import CostMeter, device_info, merge_costs, peak_memory
from vsrzoo.metrics.flow import FLOW_BACKENDS, DISFlow, RAFTFlow, get_flow
from vsrzoo.metrics.lpips import LPIPS, backbone_path
from vsrzoo.metrics.psnr_ssim import psnr, psnr_ssim, rgb_to_y, ssim
from vsrzoo.metrics.temporal import TLPIPS, TOF, crop_8x8
from vsrzoo.metrics.warping import WarpingError, warping_error

__all__ = [
    "FLOW_BACKENDS",
    "LPIPS",
    "TLPIPS",
    "TOF",
    "CostMeter",
    "DISFlow",
    "RAFTFlow",
    "WarpingError",
    "backbone_path",
    "crop_8x8",
    "device_info",
    "get_flow",
    "merge_costs",
    "peak_memory",
    "psnr",
    "psnr_ssim",
    "rgb_to_y",
    "ssim",
    "warping_error",
]

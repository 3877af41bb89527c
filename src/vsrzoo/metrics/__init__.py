"""Video super-resolution metrics: PSNR/SSIM (BasicSR protocol), LPIPS, warping error,
tOF/tLPIPS, optical flow backends and inference cost.

Heavy dependencies (lpips, torchvision RAFT) load only when their metric is built.
"""

import lazy_loader

# DOVER's outputs (overall, technical, aesthetic) as metric names: here, where the benchmark's
# protocol can read them without loading the networks.
DOVER_OUTPUTS = ("dover", "dover_technical", "dover_aesthetic")

# Loaded on first use, so that the submodules' light constants cost no torch import.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "cost": ["CostMeter", "device_info", "merge_costs", "peak_memory"],
        "flow": ["FLOW_BACKENDS", "DISFlow", "RAFTFlow", "get_flow"],
        "lpips": ["LPIPS", "backbone_path"],
        "psnr_ssim": ["psnr", "psnr_ssim", "rgb_to_y", "ssim"],
        "temporal": ["TLPIPS", "TOF", "crop_8x8"],
        "warping": ["WarpingError", "warping_error"],
    },
)
__all__ += ["DOVER_OUTPUTS"]

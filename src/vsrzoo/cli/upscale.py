"""``vsrzoo upscale INPUT OUTPUT``: streaming, tiled super-resolution of a video or frame folder."""

from __future__ import annotations

import argparse

from vsrzoo.errors import UserError


def _tile(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of LR pixels or 'auto', got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"tile must be at least 1 LR pixel, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="video file (mp4, mkv, ...) or folder of frames")
    parser.add_argument("output", metavar="OUTPUT", help="output .mp4/.mkv/.mov (H.264) or a frame folder")
    parser.add_argument("--method", default="bicubic", help="registered method (see `vsrzoo models`)")
    parser.add_argument("--variant", default="tiny", choices=("tiny", "small", "full"), help="model size")
    parser.add_argument(
        "--ckpt",
        default=None,
        help="weights: a .ckpt file or save_pretrained directory (default: the shipped tiny weights, if any)",
    )
    parser.add_argument("--scale", type=int, default=4, help="upscaling factor (default 4)")
    parser.add_argument(
        "--tile",
        type=_tile,
        default=None,
        help="tile size in LR pixels, or 'auto' to fit --max-memory (default: whole frames)",
    )
    parser.add_argument("--tile-overlap", type=int, default=16, help="tile overlap in LR pixels (default 16)")
    parser.add_argument(
        "--max-memory",
        default=None,
        help="memory budget for --tile auto, e.g. 8GB (default: 90%% of the GPU, half the free RAM on CPU)",
    )
    parser.add_argument(
        "--segment", type=int, default=None, help="frames per segment (default: the method's)"
    )
    parser.add_argument(
        "--overlap", type=int, default=None, help="frames cross-faded between segments (default: segment/4)"
    )
    parser.add_argument(
        "--precision", default="fp32", choices=("fp32", "bf16", "fp16"), help="autocast dtype"
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--crf", type=int, default=18, help="H.264 quality, lower is better (default 18)")
    parser.add_argument(
        "--fps", type=float, default=None, help="frame rate of a frame-folder INPUT (default 25)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from vsrzoo.inference.api import upscale

    if args.crf < 0 or args.crf > 51:
        raise UserError(f"--crf must be between 0 and 51, got {args.crf}")
    result = upscale(
        args.input,
        args.output,
        method=args.method,
        ckpt=args.ckpt,
        scale=args.scale,
        tile=args.tile,
        segment=args.segment,
        overlap=args.overlap,
        precision=args.precision,
        device=args.device,
        crf=args.crf,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        variant=args.variant,
        tile_overlap=args.tile_overlap,
        max_memory=args.max_memory,
        fps=args.fps,
    )
    print(
        f"wrote {result.num_frames} frames of {result.width}x{result.height} at {result.fps:g} fps to "
        f"{result.path} ({result.num_frames / max(result.seconds, 1e-9):.2f} frames/s)"
    )
    return 0

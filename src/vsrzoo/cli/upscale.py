"""``vsrzoo upscale INPUT OUTPUT``: streaming, tiled super-resolution of a video, a frame folder, or many videos.

vsrzoo upscale in.mp4 out.mp4 --method instavsr              # audio, timing, colour kept
vsrzoo upscale in.mp4 out.mkv --video-codec ffv1                     # lossless
vsrzoo upscale videos/ upscaled/ --shard 0/2                   # and 1/2 in another process
vsrzoo upscale list.txt upscaled/ --ckpt org/name              # weights from the Hugging Face Hub
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from vsrzoo.data.io import CODECS
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
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="video file (mp4, mkv, ...), folder of frames, or many videos: a folder of videos or a .txt list of paths",
    )
    parser.add_argument(
        "output",
        metavar="OUTPUT",
        help="output .mp4/.mkv/.mov or a frame folder; for many videos, the folder they are written into (same names)",
    )
    parser.add_argument("--method", default="bicubic", help="registered method (see `vsrzoo models`)")
    parser.add_argument("--variant", default="tiny", choices=("tiny", "small", "full"), help="model size")
    parser.add_argument(
        "--ckpt",
        default=None,
        help="weights: a save_pretrained folder, a .ckpt file or a Hugging Face Hub id org/name[@revision] "
        "(default: the shipped tiny weights, if any)",
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
        "--segment-length", type=int, default=None, help="frames per segment (default: the method's)"
    )
    parser.add_argument(
        "--overlap",
        type=int,
        default=None,
        help="frames cross-faded between segments (default: a quarter of --segment-length)",
    )
    parser.add_argument(
        "--precision", default="fp32", choices=("fp32", "bf16", "fp16"), help="autocast dtype"
    )
    parser.add_argument(
        "--device", default=None, help="cpu or cuda[:N] (default: cuda when available, else cpu)"
    )
    parser.add_argument(
        "--video-codec",
        default=None,
        choices=sorted(CODECS),
        help="codec of a video OUTPUT: h264 (default), h265/hevc, ffv1 (lossless)",
    )
    parser.add_argument(
        "--pix-fmt", default=None, help="pixel format, e.g. yuv420p10le (default: yuv420p; bgr0 for ffv1)"
    )
    parser.add_argument(
        "--crf",
        type=float,
        default=None,
        help="quality for h264/h265, 0-51, lower is better (default 18 / 20)",
    )
    parser.add_argument(
        "--fps", default=None, help="frame rate of a frame-folder INPUT, e.g. 25 or 30000/1001 (default 25)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace OUTPUT (or existing outputs) if it exists"
    )
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="many videos: do only shard I of N (0-based); default from torchrun/SLURM env",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM raises KeyboardInterrupt, so temporaries are removed and locks released as on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_folder_output(args: argparse.Namespace) -> None:
    """A frame-folder OUTPUT is PNG: refuse video-encoder options instead of ignoring them."""
    from vsrzoo.data.io import is_video_path

    if is_video_path(args.output):
        return
    given = [
        f"--{name.replace('_', '-')}"
        for name in ("video_codec", "pix_fmt")
        if getattr(args, name) is not None
    ]
    if given:
        verb = "apply" if len(given) > 1 else "applies"
        raise UserError(
            f"{' and '.join(given)} {verb} to a video OUTPUT (.mp4, .mkv, .mov); "
            f"{args.output} is written as a folder of PNG frames"
        )


def run(args: argparse.Namespace) -> int:
    from vsrzoo.upscaling.api import describe, is_batch, upscale
    from vsrzoo.upscaling.batch import upscale_batch

    options = dict(
        tile=args.tile,
        segment_length=args.segment_length,
        overlap=args.overlap,
        precision=args.precision,
        crf=args.crf,
        overwrite=args.overwrite,
        tile_overlap=args.tile_overlap,
        max_memory=args.max_memory,
        video_codec=args.video_codec or "h264",
        pix_fmt=args.pix_fmt,
    )
    model = dict(
        method=args.method, ckpt=args.ckpt, scale=args.scale, variant=args.variant, device=args.device
    )
    with terminate_as_interrupt():
        if is_batch(args.input, args.output):
            if args.fps is not None:
                raise UserError("--fps applies to a frame-folder INPUT, not to a folder of videos")
            result = upscale_batch(
                args.input, args.output, shard=args.shard, progress=not args.no_progress, **model, **options
            )
            for item in result.items:
                print(item.line())
            print(result.summary())
            return 2 if result.nothing_done else (1 if result.counts["failed"] else 0)
        if args.shard is not None:
            raise UserError("--shard applies when INPUT is a folder of videos or a list of them")
        check_folder_output(args)
        result = upscale(
            args.input, args.output, fps=args.fps, progress=not args.no_progress, **model, **options
        )
    print(f"wrote {describe(result)}")
    return 0

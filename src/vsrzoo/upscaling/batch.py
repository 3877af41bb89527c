"""Batch upscaling: every video of a folder (or of a text file listing paths) into one output folder.

Each video is written to ``OUT_DIR`` under its own name (``.mkv`` when its container cannot hold
the output codec, e.g. ``.avi``). Outputs that exist are skipped, so a rerun after a crash does
only the rest and touches nothing finished. One bad file never stops the batch: it is reported
with a one-line reason and the next video starts. Work is split over processes with the shard
mechanism of ``vsrzoo bench`` (:func:`vsrzoo.runtime.resolve_shard`: ``--shard I/N``, torchrun
or SLURM): every process lists the same videos and keeps those assigned to its shard (by file
size, largest first, to the least-loaded shard), so processes share nothing but the file system;
each output's lock file keeps two processes from ever writing the same file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from vsrzoo.data.io import MUXERS, VIDEO_EXTS, OutputBusyError, natural_key, video_encoding
from vsrzoo.errors import MissingDataError, UserError
from vsrzoo.runtime import assign_shards, resolve_device, resolve_shard
from vsrzoo.upscaling.api import (
    DecodedInput,
    Options,
    UpscaleResult,
    describe,
    load_model,
    new_writer,
    open_input,
    run_one,
)

log = logging.getLogger(__name__)

LIST_SUFFIXES = {".txt", ".lst", ".list"}


@dataclass
class Item:
    """One video of the batch and what happened to it."""

    source: Path
    output: Path | None
    status: str = "pending"  # done, skipped or failed
    reason: str = ""
    result: UpscaleResult | None = None

    def line(self) -> str:
        if self.status == "done":
            return f"done: {self.source.name} -> {describe(self.result)}"
        if self.status == "skipped":
            return f"skipped: {self.source.name} ({self.reason})"
        return f"failed: {self.source}: {self.reason}"


@dataclass
class BatchResult:
    """The items of this process's shard, in order, and how many the whole batch has."""

    items: list[Item]
    total: int
    shard: tuple[int, int] | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = {s: sum(i.status == s for i in self.items) for s in ("done", "skipped", "failed")}

    @property
    def nothing_done(self) -> bool:
        """Every item failed (nothing upscaled, nothing already there)."""
        return bool(self.items) and self.counts["failed"] == len(self.items)

    def summary(self) -> str:
        c = self.counts
        where = (
            f" (shard {self.shard[0]}/{self.shard[1]}: {len(self.items)} of {self.total})"
            if self.shard
            else ""
        )
        return f"upscaled {c['done']}, skipped {c['skipped']}, failed {c['failed']} of {len(self.items)} videos{where}"


def list_batch(input: str | Path) -> list[tuple[Path, str | None]]:
    """The entries of a folder or list file as (path, reason it cannot be upscaled or None)."""
    input = Path(input)
    if input.is_dir():
        paths = sorted(
            (p for p in input.iterdir() if p.is_file() and not p.name.startswith(".")),
            key=lambda p: natural_key(p.name),
        )
    elif input.is_file():
        try:
            lines = input.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read the list of videos {input}: {exc}") from None
        paths = [
            p if p.is_absolute() else input.parent / p
            for p in (
                Path(line.strip()).expanduser() for line in lines if line.strip() and not line.startswith("#")
            )
        ]
    else:
        raise MissingDataError(f"input not found: {input}")
    entries = []
    for path in paths:
        reason = None
        if not path.is_file():
            reason = "not found" if not path.exists() else "not a file"
        elif path.suffix.lower() not in VIDEO_EXTS:
            reason = f"not a video file ({path.suffix or 'no suffix'}; videos end in {', '.join(sorted(VIDEO_EXTS))})"
        entries.append((path, reason))
    return entries


def batch_output(source: Path, out_dir: Path, video_codec: str, pix_fmt: str | None = None) -> Path:
    """``OUT_DIR/<name>``; ``<stem>.mkv`` when the input's container cannot be written with ``video_codec``."""
    same = out_dir / source.name
    if source.suffix.lower() in MUXERS:
        try:
            video_encoding(same, video_codec, pix_fmt)
            return same
        except UserError:
            pass
    return out_dir / f"{source.stem}.mkv"


def check_some_video(input: str | Path, entries: list[tuple[Path, str | None]]) -> None:
    """UserError, before OUT_DIR is created, when not one entry is a video file to try.

    A folder of notes or a list of missing paths is a wrong INPUT, not a batch whose every
    video failed: it gets one ``vsrzoo: error:`` line and leaves no empty OUTPUT folder.
    """
    if any(reason is None for _, reason in entries):
        return
    kind = "videos or image frames in the folder" if Path(input).is_dir() else "videos in the list"
    shown = "; ".join(f"{path.name}: {reason.split(' (')[0]}" for path, reason in entries[:3])
    more = f" and {len(entries) - 3} more" if len(entries) > 3 else ""
    found = f" ({shown}{more})" if entries else ""
    raise UserError(f"no {kind} {input}{found}")


def prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(
            f"OUTPUT {out_dir} is a file; with a folder of videos (or a list) as INPUT, OUTPUT is the folder to write into"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the output folder {out_dir}: {exc.strerror}") from None


def upscale_batch(
    input: str | Path,
    out_dir: str | Path,
    method: str | torch.nn.Module = "bicubic",
    ckpt: str | Path | None = None,
    scale: int = 4,
    variant: str = "tiny",
    device: str | torch.device | None = None,
    shard: str | tuple[int, int] | None = None,
    progress: bool = True,
    **options: Any,
) -> BatchResult:
    """Upscale every video of ``input`` (a folder or a text file of paths) into the folder ``out_dir``.

    ``options`` are those of :func:`vsrzoo.upscale` (tile, segment_length, crf, video_codec, overwrite, ...).
    Existing outputs are skipped unless ``overwrite``; ``shard`` ('i/n') or the torchrun/SLURM
    environment selects this process's share. The model is loaded once, when the first video needs it.
    """
    opts = Options(**options)
    out_dir = Path(out_dir)
    opts.check(out_dir / "check.mkv")
    device = resolve_device(device)
    spec = resolve_shard(shard)
    entries = list_batch(input)
    check_some_video(input, entries)
    prepare_out_dir(out_dir)
    items = _plan(entries, out_dir, opts)
    if spec is not None:
        owners = assign_shards([_size(i.source) for i in items], spec[1])
        items = [i for i, owner in zip(items, owners) if owner == spec[0]]
    pending = any(i.status == "pending" for i in items)
    model = load_model(method, scale, variant, ckpt, device) if pending else None  # its errors stop the batch
    with tqdm(
        items, unit="video", desc="videos", disable=not progress, dynamic_ncols=True, position=0
    ) as bar:
        for item in bar:
            if item.status == "pending":
                _run_item(item, model, opts, progress)
            bar.set_postfix_str(item.status)
    return BatchResult(items, len(entries), spec)


def _plan(entries: Iterable[tuple[Path, str | None]], out_dir: Path, opts: Options) -> list[Item]:
    """An item per entry: failed when it is not a video or collides with another's output name."""
    items, claimed = [], {}
    for path, reason in entries:
        output = batch_output(path, out_dir, opts.video_codec, opts.pix_fmt) if reason is None else None
        item = Item(path, output)
        if reason is None and output in claimed:
            reason = f"same output name {output.name} as {claimed[output]}"
        if reason is not None:
            item.status, item.reason = "failed", reason
        else:
            claimed[output] = path
            if output.exists() and not opts.overwrite:
                item.status, item.reason = "skipped", f"{output} exists"
        items.append(item)
    return items


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _run_item(item: Item, model: torch.nn.Module, opts: Options, progress: bool) -> None:
    """Upscale one item and record the outcome; only an interruption escapes."""
    frames = None
    try:
        source = open_input(item.source)
        frames = DecodedInput(source, opts.io_threads)
        if frames.first is None:
            raise UserError("no frames: the video is empty")
        writer = new_writer(item.output, source, opts)
        item.result = run_one(model, frames, writer, opts, progress, str(item.source), position=1)
        item.status = "done"
    except OutputBusyError as exc:  # another run writes it: not a failure of this one
        item.status, item.reason = "skipped", f"being written by pid {exc.pid or '?'}"
    except UserError as exc:
        if not opts.overwrite and item.output.exists():
            item.status, item.reason = "skipped", f"{item.output} exists (written by another run)"
        else:
            item.status, item.reason = "failed", str(exc)
    except Exception as exc:  # one bad file never stops the batch
        log.debug("failed on %s", item.source, exc_info=True)
        lines = str(exc).strip().splitlines()
        item.status, item.reason = "failed", f"{type(exc).__name__}: {lines[0] if lines else ''}"
    finally:
        if frames is not None:
            frames.close()

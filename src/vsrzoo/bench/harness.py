"""The benchmark harness: methods (or folders of outputs) x a dataset -> per-frame, per-clip and
per-dataset scores, resumable, shardable over processes.

Scores follow DESIGN.md section 4: mean over the frames of a clip, then over clips. Each clip's
result is stored atomically as soon as the clip is done (:mod:`vsrzoo.bench.store`); a rerun
with the same settings skips finished clips, ``overwrite=True`` recomputes them. With ``shard=(i, n)``
(or under torchrun, from ``RANK``/``WORLD_SIZE``) a process scores only its share of the clips;
whichever shard finds every clip done writes the merged report, and rerunning without a shard
merges too (everything is then already done).

A method output containing NaN or Inf marks that clip as failed (reported, excluded from the
means) and the other clips are still scored; failed clips are retried on the next run.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vsrzoo.bench.boundary import BOUNDARY_FIELDS
from vsrzoo.bench.entries import Entry, default_methods, make_entries
from vsrzoo.bench.fingerprint import clip_fingerprint, explain_change
from vsrzoo.bench.outputs import check_outputs
from vsrzoo.bench.protocol import (
    IQA_NAMES,
    METRICS,
    Protocol,
    assign_shards,
    get_protocol,
    parse_metrics,
    resolve_shard,
    vqa_requested,
)
from vsrzoo.bench.scoring import ClipScorer, mean_or_none
from vsrzoo.bench.store import GT_LABEL, ClipStore
from vsrzoo.data.datasets import Clip, VideoSet, get_dataset
from vsrzoo.data.io import read_image
from vsrzoo.errors import UserError
from vsrzoo.metrics.cost import CostMeter, merge_costs
from vsrzoo.runtime import resolve_device

log = logging.getLogger(__name__)

__all__ = ["BenchResult", "BenchRun", "Entry", "default_methods", "evaluate", "make_entries"]


class ClipFailed(Exception):
    """A method failed on one clip (NaN/Inf output, missing frames, out of memory): the clip is
    reported as failed and the other clips are still scored."""


@dataclass
class BenchResult:
    """Everything a run measured; ``to_dict()`` is what ``results.json`` holds."""

    dataset: str
    protocol: Protocol
    metrics: list[str]
    clips: list[str]
    entries: dict[str, dict]  # label -> {"kind", "settings", "summary", "clips", "failed", "cost"}
    settings: dict
    complete: bool
    out_dir: Path | None = None
    versions: dict = field(default_factory=dict)

    def __getitem__(self, label: str) -> dict:
        return self.entries[label]

    def summary(self, label: str) -> dict[str, float | None]:
        return self.entries[label]["summary"]

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "protocol": self.protocol.__dict__,
            "metrics": self.metrics,
            "units": {m: METRICS[m].unit for m in self.metrics},
            "clips": self.clips,
            "complete": self.complete,
            "settings": self.settings,
            "versions": self.versions,
            "entries": self.entries,
        }

    def table(self) -> str:
        from vsrzoo.bench.report import summary_table

        return summary_table(self)


# ---------------------------------------------------------------------------------- run


def _versions() -> dict:
    import cv2

    import vsrzoo

    versions = {
        "vsrzoo": vsrzoo.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "platform": platform.platform(),
    }
    for mod in ("torchvision", "lpips", "pyiqa"):
        versions[mod] = _dist_version(mod)
    return versions


def _dist_version(name: str) -> str | None:
    """An installed distribution's version, without importing it (pyiqa takes seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _open_dataset(dataset, root, lr_dir, scale) -> VideoSet:
    if isinstance(dataset, VideoSet):
        return dataset
    return get_dataset(dataset, root=root, lr_dir=lr_dir, scale=scale)


def _load_model(entry: Entry, scale: int, device: torch.device) -> tuple[torch.nn.Module, float]:
    from vsrzoo.factory import load_method

    start = time.perf_counter()
    if entry.model is not None:
        model = entry.model
    else:
        model = load_method(entry.name, scale, variant=entry.variant or "tiny", pretrained=entry.ckpt)
    model = model.to(device).eval()
    return model, time.perf_counter() - start


def evaluate(
    dataset: str | VideoSet = "sample",
    methods=None,
    *,
    root: str | Path | None = None,
    lr_dir: str | None = None,
    scale: int = 4,
    outputs=None,
    ckpt=None,
    segment_length: int | None = None,
    protocol: str = "standard",
    metrics: str | list[str] | None = None,
    flow: str = "dis",
    flow_from: str | None = None,
    lpips_net: str = "alex",
    out: str | Path | None = None,
    overwrite: bool = False,
    shard: str | tuple[int, int] | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    report: bool = True,
) -> BenchResult:
    """Benchmark methods and/or folders of outputs on a dataset.

    ``methods``: 'name[:variant]' strings, VSRMethod instances, or a dict label -> either
    (default ['bicubic'] when no ``outputs``). ``outputs``: folders laid out as
    ``<clip>/<frame>.png`` (or 'LABEL=DIR', or a dict label -> folder). ``metrics``: comma list
    or 'all' (default psnr,ssim,ewarp; 'boundary' adds the temporal boundary fields of
    :mod:`vsrzoo.bench.boundary`); ``segment_length``: segments of the ``outputs`` folders for
    them (a method's come from the method); ``lpips_net``: 'alex' (the convention) or 'vgg'. ``out``: folder for per-clip results and the report
    (None keeps everything in memory: no resume, no report). ``shard``: 'i/n' or (i, n).
    """
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the results (it is created if absent)")
    ds = _open_dataset(dataset, root, lr_dir, scale)
    metric_names = parse_metrics(metrics, ds.has_gt)
    proto = get_protocol(protocol, ds.y_channel)
    flow_from = flow_from or ("gt" if ds.has_gt else "output")
    if flow_from not in ("gt", "output"):
        raise UserError(f"--flow-from must be 'gt' or 'output', got '{flow_from}'")
    if flow_from == "gt" and not ds.has_gt and "ewarp" in metric_names:
        raise UserError("the dataset has no ground truth: use --flow-from output for ewarp")
    check_metric_weights(metric_names, lpips_net)
    entries = make_entries(methods, outputs, ckpt, segment_length)
    _note_boundary_skips(entries, metric_names)
    shard_spec = resolve_shard(shard)
    if shard_spec is not None and out is None:
        raise UserError("--shard needs --out: shards merge their results through that folder")
    dev = resolve_device(device)
    _check_clip_lengths(ds, proto)
    output_paths = {e.label: check_outputs(e.outputs, ds) for e in entries if e.kind == "outputs"}
    tools = _build_tools(metric_names, flow, lpips_net, dev)
    settings = _run_settings(ds, proto, metric_names, tools, flow_from)
    store = ClipStore(Path(out) if out is not None else None)
    keys = _result_keys(ds, entries, settings, output_paths)
    todo = _todo(ds, entries, store, keys, shard_spec, overwrite)

    def make_scorer(n, segments=None):
        return ClipScorer(
            metric_names,
            proto,
            n,
            tools["flow"],
            flow_from,
            tools["lpips"],
            tools["iqa"],
            segments,
            tools["vqa"],
        )

    BenchRun(store, keys, output_paths, make_scorer, scale, dev, progress).execute(todo)
    result = _collect(ds, entries, store, keys, proto, metric_names, settings, out)
    if result.complete and out is not None and report:
        from vsrzoo.bench.report import write_report

        write_report(result, store)
    return result


def _note_boundary_skips(entries: list[Entry], metric_names: list[str]) -> None:
    if not set(BOUNDARY_FIELDS) & set(metric_names):
        return
    for e in entries:
        if e.kind == "outputs" and e.segment_length is None:
            log.warning("%s: boundary fields left empty: give --segment-length N for output folders", e.label)


def _result_keys(ds: VideoSet, entries: list[Entry], settings: dict, output_paths) -> dict:
    """entry label -> clip -> the fingerprint parts a stored result must carry to be reused."""
    import vsrzoo

    keys = {}
    for e in entries:
        entry = e.settings()
        keys[e.label] = {
            c.name: clip_fingerprint(
                c.inputs + output_paths.get(e.label, {}).get(c.name, []), entry, settings, vsrzoo.__version__
            )
            for c in ds.clips
        }
    return keys


def _todo(ds, entries, store, keys, shard_spec, overwrite) -> list[tuple[Entry, Clip]]:
    """(entry, clip) pairs this process must compute: its shard's clips not already done."""
    if shard_spec is None:
        mine = ds.clips
    else:
        owners = assign_shards([len(c) for c in ds.clips], shard_spec[1])
        mine = [c for c, o in zip(ds.clips, owners) if o == shard_spec[0]]
    todo = []
    for e in entries:
        for c in mine:
            stored = store.load(e.label, c.name)
            if not overwrite and _is_done(stored, keys[e.label][c.name]):
                continue
            if not overwrite and stored is not None and stored.get("status") == "ok":
                why = explain_change(stored.get("fingerprint"), keys[e.label][c.name])
                log.warning("recomputing %s / %s: %s changed since the stored result", e.label, c.name, why)
            todo.append((e, c))
    return todo


def _check_clip_lengths(ds: VideoSet, proto: Protocol) -> None:
    need = proto.skip_first + proto.skip_last + 1
    short = [c.name for c in ds.clips if len(c) < need]
    if short:
        raise UserError(
            f"protocol {proto.name} needs at least {need} frames per clip; too short: {', '.join(short)}"
        )


def check_metric_weights(metric_names: list[str], lpips_net: str) -> None:
    """Every weight file the requested metrics need is on disk, else a one-line error before any work."""
    if {"lpips", "tlpips"} & set(metric_names):
        from vsrzoo.metrics.lpips import check_backbone

        check_backbone(lpips_net)
    if set(IQA_NAMES) & set(metric_names):
        from vsrzoo.metrics.iqa import check_weights

        for name in IQA_NAMES:
            if name in metric_names:
                check_weights(name)
    if "dover" in vqa_requested(metric_names):
        from vsrzoo.metrics.dover import check_weights as check_dover

        check_dover()


def _build_tools(metric_names: list[str], flow: str, lpips_net: str, device: torch.device) -> dict:
    """Flow backend, LPIPS and pyiqa networks, built once and only if a requested metric needs them."""
    from vsrzoo.metrics.flow import get_flow

    tools = {"flow": None, "lpips": None, "iqa": {}, "vqa": {}}
    if {"lpips", "tlpips"} & set(metric_names):
        from vsrzoo.metrics.lpips import LPIPS

        tools["lpips"] = LPIPS(net=lpips_net).to(device)
    if set(IQA_NAMES) & set(metric_names):
        from vsrzoo.metrics.iqa import IQAMetric

        tools["iqa"] = {m: IQAMetric(m, device) for m in IQA_NAMES if m in metric_names}
    if "dover" in vqa_requested(metric_names):
        from vsrzoo.metrics.dover import DOVER

        tools["vqa"]["dover"] = DOVER(device)
    if {"ewarp", "ewarp_evalcrafter"} & set(metric_names):
        tools["flow"] = get_flow(flow, device=device)
    return tools


def _run_settings(ds: VideoSet, proto: Protocol, metric_names, tools, flow_from) -> dict:
    flow = tools["flow"]
    return {
        "dataset": ds.name,
        "root": str(Path(ds.root).resolve()),
        "lr": getattr(ds, "lr_source", ds.lr_dir),
        "scale": ds.scale,
        "protocol": proto.__dict__,
        "metrics": sorted(metric_names),
        "flow": flow.describe() if flow is not None else None,
        "flow_from": flow_from if "ewarp" in metric_names else None,
        "lpips": f"{tools['lpips'].net_name} v{tools['lpips'].version}"
        if tools["lpips"] is not None
        else None,
        "iqa": {m: "pyiqa " + _dist_version("pyiqa") for m in tools["iqa"]} or None,
        "vqa": {m: v.describe() for m, v in tools["vqa"].items()} or None,
        "has_gt": ds.has_gt,
    }


def _is_done(stored: dict | None, key: dict) -> bool:
    return stored is not None and stored.get("fingerprint") == key and stored.get("status") == "ok"


# ------------------------------------------------------------------------------ a run


def _nan_guard(model: torch.nn.Module):
    def hook(module, inputs, output):
        if isinstance(output, torch.Tensor) and not torch.isfinite(output).all():
            raise ClipFailed("method output contains NaN or Inf")

    return model.register_forward_hook(hook)


def _precision(model: torch.nn.Module | None) -> tuple[str, int | None]:
    """(parameter dtype, sampling steps) of a method, for the cost record."""
    if model is None:
        return "", None
    dtype = next(iter(model.parameters()), torch.empty(0)).dtype
    return str(dtype).removeprefix("torch."), getattr(model, "num_inference_steps", None)


def _segments(entry: Entry, model: torch.nn.Module | None) -> tuple[int, int] | None:
    """(segment length, overlap) the entry's frames are made with: a method's own, streamed with
    with the engine's default overlap (0 for stateful methods); for an outputs folder its
    ``--segment-length`` without overlap, or None when not given."""
    if model is None:
        return (entry.segment_length, 0) if entry.segment_length else None
    from vsrzoo.inference.streaming import default_overlap

    length = int(getattr(model, "segment_length", 1))
    return length, default_overlap(length, bool(getattr(model, "stateful", False)))


@dataclass
class BenchRun:
    """What every (entry, clip) unit of one :func:`evaluate` call shares: where results go, the
    fingerprints they must carry, the output folders' frames, how to score a clip, and where
    methods run."""

    store: ClipStore
    keys: dict  # entry label -> clip name -> fingerprint
    output_paths: dict[str, dict[str, list[Path]]]  # entry label -> clip name -> frames (--outputs)
    make_scorer: Callable[..., ClipScorer]  # (number of frames, segments) -> a fresh scorer
    scale: int
    device: torch.device
    progress: bool = False

    def execute(self, todo: list[tuple[Entry, Clip]]) -> None:
        """Score every (entry, clip) unit, entry by entry (each method is loaded once)."""
        from tqdm.auto import tqdm

        total = sum(len(c) for _, c in todo)
        with tqdm(
            total=total, unit="frame", disable=not self.progress or total == 0, dynamic_ncols=True
        ) as bar:
            for label in dict.fromkeys(e.label for e, _ in todo):
                self._run_entry([(e, c) for e, c in todo if e.label == label], bar)

    def _run_entry(self, units: list[tuple[Entry, Clip]], bar) -> None:
        entry = units[0][0]
        model, load_s, guard = None, 0.0, None
        if entry.kind == "method":
            model, load_s = _load_model(entry, self.scale, self.device)
            guard = _nan_guard(model)
        try:
            for _, clip in units:
                bar.set_description(f"{entry.label} {clip.name}")
                meter = CostMeter(self.device, *_precision(model))
                result, profiles = self._score_clip(entry, clip, model, meter, bar)
                result["fingerprint"] = self.keys[entry.label][clip.name]
                result["load_seconds"] = load_s
                if profiles is not None and profiles[0] is not None:
                    self.store.save_profile(GT_LABEL, clip.name, profiles[0])
                self.store.save(entry.label, clip.name, result, profiles[1] if profiles is not None else None)
                if result["status"] != "ok":
                    log.warning("%s: clip %s failed: %s", entry.label, clip.name, result["error"])
        finally:
            if guard is not None:
                guard.remove()

    def _frames_of(self, entry: Entry, clip: Clip, model) -> Iterator[np.ndarray]:
        if entry.kind == "outputs":
            return (read_image(p) for p in self.output_paths[entry.label][clip.name])
        return iter(model.upscale(clip.read_lr()))

    def _score_clip(self, entry, clip, model, meter, bar) -> tuple[dict, tuple | None]:
        """Stream one clip through the entry and the scorer; returns (result, temporal profiles)."""
        n = len(clip)
        segments = _segments(entry, model)
        scorer = self.make_scorer(n, segments)
        sr_iter = self._frames_of(entry, clip, model)
        gt_iter = clip.read_gt() if clip.has_gt else iter([None] * n)
        status, error = "ok", None
        try:
            for i, gt in enumerate(gt_iter):
                sr = meter.timed(lambda: next(sr_iter, None))
                if sr is None:
                    raise ClipFailed(f"method produced only {i} frames for {n} LR frames")
                if gt is not None and sr.shape != gt.shape:
                    raise UserError(
                        f"{entry.label} frame {i} of clip {clip.name} is {sr.shape[1]}x{sr.shape[0]} "
                        f"but GT is {gt.shape[1]}x{gt.shape[0]}"
                    )
                meter.add_frame(*sr.shape[:2])
                scorer.add(i, sr, gt, clip.gt[i].name if clip.has_gt else f"{i:08d}")
                bar.update(1)
        except ClipFailed as exc:
            status, error = "failed", f"{exc} (clip {clip.name}, near frame {meter.frames})"
        except torch.cuda.OutOfMemoryError as exc:
            status, error = "failed", f"out of memory on clip {clip.name}: {str(exc).splitlines()[0]}"
        result = {
            "entry": entry.label,
            "clip": clip.name,
            "status": status,
            "error": error,
            "num_frames": n,
            "metrics": scorer.summary() if status == "ok" else {},
            "frames": scorer.rows if status == "ok" else [],
            "cost": meter.record() if entry.kind == "method" else None,
            "profile_row": scorer.profile_row,
            "segments": dict(zip(("length", "overlap"), segments)) if segments is not None else None,
        }
        profiles = scorer.profiles() if status == "ok" else None
        return result, profiles


def _collect(ds, entries, store, keys, proto, metric_names, settings, out) -> BenchResult:
    table, complete = {}, True
    for e in entries:
        clips = {}
        for c in ds.clips:
            stored = store.load(e.label, c.name)
            valid = stored is not None and stored.get("fingerprint") == keys[e.label][c.name]
            clips[c.name] = stored if valid else None
            complete &= valid
        ok = [r for r in clips.values() if r and r["status"] == "ok"]
        table[e.label] = {
            "kind": e.kind,
            "settings": e.settings(),
            "summary": {m: mean_or_none(r["metrics"].get(m) for r in ok) for m in metric_names},
            "clips_ok": len(ok),
            "failed": {n: r["error"] for n, r in clips.items() if r and r["status"] != "ok"},
            "cost": merge_costs([r["cost"] for r in clips.values() if r and r.get("cost")]),
            "segments": next((r.get("segments") for r in ok), None),
            "clips": clips,
        }
    return BenchResult(
        dataset=ds.name,
        protocol=proto,
        metrics=metric_names,
        clips=[c.name for c in ds.clips],
        entries=table,
        settings=settings,
        complete=complete,
        out_dir=Path(out) if out is not None else None,
        versions=_versions(),
    )

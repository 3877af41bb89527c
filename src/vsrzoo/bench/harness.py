"""The benchmark harness: methods (or folders of outputs) x a dataset -> per-frame, per-clip and
per-dataset scores, resumable, shardable over processes.

Scores follow DESIGN.md section 4: mean over the frames of a clip, then over clips. Each clip's
result is stored atomically as soon as the clip is done (:mod:`vsrzoo.bench.store`); a rerun
with the same settings skips finished clips, ``force=True`` recomputes them. With ``shard=(i, n)``
(or under torchrun, from ``RANK``/``WORLD_SIZE``) a process scores only its share of the clips;
whichever shard finds every clip done writes the merged report, and rerunning without a shard
merges too (everything is then already done).

A method output containing NaN or Inf marks that clip as failed (reported, excluded from the
means) and the other clips are still scored; failed clips are retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vsrzoo.bench.protocol import METRICS, Protocol, assign_shards, get_protocol, parse_metrics, resolve_shard
from vsrzoo.bench.scoring import ClipScorer, mean_or_none
from vsrzoo.bench.store import GT_LABEL, ClipStore
from vsrzoo.data.datasets import Clip, VideoSet, get_dataset
from vsrzoo.data.io import list_frames, read_image
from vsrzoo.errors import MissingDataError, UserError
from vsrzoo.metrics.cost import CostMeter, merge_costs

log = logging.getLogger(__name__)

__all__ = ["BenchResult", "Entry", "evaluate"]


@dataclass
class Entry:
    """One column of the comparison: a registered method or a folder of existing outputs."""

    label: str
    name: str | None = None
    variant: str | None = None
    ckpt: str | None = None
    outputs: Path | None = None
    model: torch.nn.Module | None = None

    @property
    def kind(self) -> str:
        return "outputs" if self.outputs is not None else "method"

    def settings(self) -> dict:
        if self.outputs is not None:
            return {"outputs": str(self.outputs.resolve())}
        name = self.name or getattr(self.model, "method_name", type(self.model).__name__)
        ckpt = self.ckpt
        if ckpt == "builtin":
            from vsrzoo.methods.base import WEIGHTS_NAME, builtin_dir

            ckpt = builtin_dir() / f"{self.name}-{self.variant or 'tiny'}" / WEIGHTS_NAME
        ckpt = _file_stamp(Path(ckpt)) if ckpt is not None else None
        return {"method": name, "variant": self.variant, "ckpt": ckpt}


def _file_stamp(path: Path) -> dict:
    """Identity of a checkpoint for the resume key: a changed file invalidates old results."""
    stat = path.stat() if path.exists() else None
    return {"path": str(path.resolve()), "size": stat and stat.st_size, "mtime": stat and stat.st_mtime}


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


# ----------------------------------------------------------------------------------- entries


def _split_spec(spec: str) -> tuple[str, str | None]:
    name, _, variant = spec.partition(":")
    return name, variant or None


def default_methods() -> list[str]:
    """What runs when no method is named: bicubic plus every method with shipped tiny weights."""
    from vsrzoo.factory import has_builtin_weights, list_models

    return ["bicubic"] + [m for m in list_models() if m != "bicubic" and has_builtin_weights(m)]


def make_entries(methods=None, outputs=None, ckpt=None) -> list[Entry]:
    """Entries from method names ('name[:variant]'), model instances and output folders."""
    from vsrzoo.factory import get_method_info, resolve_pretrained
    from vsrzoo.methods.base import VSRMethod

    if methods is None and outputs is None:
        methods = default_methods()
    if isinstance(methods, (str, torch.nn.Module)):
        methods = [methods]
    items = list(methods.items()) if isinstance(methods, dict) else [(None, m) for m in methods or []]
    ckpts = [ckpt] if isinstance(ckpt, str) or ckpt is None else list(ckpt)
    named = [m for _, m in items if isinstance(m, str)]
    if ckpt is not None and len(ckpts) != len(named):
        raise UserError(f"got {len(ckpts)} --ckpt for {len(named)} --method; give one checkpoint per method")
    entries, ckpt_iter = [], iter(ckpts if ckpt is not None else [None] * len(named))
    for label, m in items:
        if isinstance(m, VSRMethod) or isinstance(m, torch.nn.Module):
            entries.append(Entry(label or getattr(m, "method_name", type(m).__name__), model=m))
            continue
        name, variant = _split_spec(m)
        get_method_info(name)  # unknown method -> UserError listing the valid ones
        ckpt_path = resolve_pretrained(name, variant or "tiny", next(ckpt_iter))
        entries.append(Entry(label or m, name=name, variant=variant, ckpt=ckpt_path))
    entries += _output_entries(outputs)
    labels = [e.label for e in entries]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise UserError(f"two entries share the label {', '.join(dupes)}; use LABEL=DIR for --outputs")
    if any(x.startswith("_") for x in labels):
        raise UserError("entry labels must not start with '_'")
    return entries


def _output_entries(outputs) -> list[Entry]:
    if outputs is None:
        return []
    if isinstance(outputs, (str, Path)):
        outputs = [outputs]
    pairs = list(outputs.items()) if isinstance(outputs, dict) else [_label_dir(o) for o in outputs]
    return [Entry(label, outputs=Path(folder)) for label, folder in pairs]


def _label_dir(spec: str | Path) -> tuple[str, Path]:
    text = str(spec)
    if "=" in text and not Path(text).exists():
        label, _, folder = text.partition("=")
        return label, Path(folder)
    return Path(text).resolve().name, Path(text)


# --------------------------------------------------------------------------- output folders


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except OSError as exc:
        raise UserError(f"cannot read image {path} (corrupt or not an image)") from exc


def _gt_size(clip: Clip, path: Path) -> tuple[int, int]:
    """(width, height) of a GT frame as the dataset reads it (cropped to a multiple of the scale)."""
    w, h = _image_size(path)
    s = max(int(getattr(clip, "scale", 1) or 1), 1)
    return w - w % s, h - h % s


def check_outputs(folder: Path, ds: VideoSet) -> dict[str, list[Path]]:
    """Frames of every clip in an outputs folder, checked against the GT: clips, counts, sizes."""
    if not folder.is_dir():
        raise MissingDataError(f"--outputs folder not found: {folder}")
    missing = [c.name for c in ds.clips if not (folder / c.name).is_dir()]
    if missing:
        raise UserError(
            f"--outputs {folder} is missing clip folder(s) {', '.join(missing)} of {ds.name} "
            f"(expected {folder}/<clip>/<frame>.png for every clip)"
        )
    frames = {}
    for clip in ds.clips:
        paths = list_frames(folder / clip.name, warn=False)
        if len(paths) != len(clip.gt):
            raise UserError(f"--outputs {folder / clip.name}: {_count_problem(paths, clip)}")
        for out_p, gt_p in zip(paths, clip.gt):
            ow, oh = _image_size(out_p)
            gw, gh = _gt_size(clip, gt_p)
            if (ow, oh) != (gw, gh):
                raise UserError(f"output frame {out_p} is {ow}x{oh} but GT frame {gt_p} is {gw}x{gh}")
        frames[clip.name] = paths
    return frames


def _count_problem(paths: list[Path], clip: Clip) -> str:
    have = {p.stem for p in paths}
    missing = [p.stem for p in clip.gt if p.stem not in have]
    if len(paths) < len(clip.gt) and len(missing) == len(clip.gt) - len(paths):
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        return f"missing {len(missing)} of {len(clip.gt)} frames: {shown}"
    return (
        f"{len(paths)} frames but GT clip {clip.name} has {len(clip.gt)} (frames are matched by sorted order)"
    )


# ------------------------------------------------------------------------------- one clip


def _nan_guard(model: torch.nn.Module):
    def hook(module, inputs, output):
        if isinstance(output, torch.Tensor) and not torch.isfinite(output).all():
            raise ClipFailed("method output contains NaN or Inf")

    return model.register_forward_hook(hook)


def _frames_of(entry: Entry, clip: Clip, model, output_paths) -> Iterator[np.ndarray]:
    if entry.kind == "outputs":
        return (read_image(p) for p in output_paths[entry.label][clip.name])
    return iter(model.upscale(clip.read_lr()))


def _score_clip(entry, clip, model, output_paths, make_scorer, meter, bar) -> tuple[dict, np.ndarray | None]:
    """Stream one clip through the entry and the scorer; returns (result, output profile)."""
    scorer = make_scorer(len(clip.gt))
    sr_iter = _frames_of(entry, clip, model, output_paths)
    status, error = "ok", None
    try:
        for i, gt in enumerate(clip.read_gt()):
            sr = meter.timed(lambda: next(sr_iter, None))
            if sr is None:
                raise ClipFailed(f"method produced only {i} frames for {len(clip.gt)} LR frames")
            if sr.shape != gt.shape:
                raise UserError(
                    f"{entry.label} frame {i} of clip {clip.name} is {sr.shape[1]}x{sr.shape[0]} "
                    f"but GT is {gt.shape[1]}x{gt.shape[0]}"
                )
            meter.add_frame(*sr.shape[:2])
            scorer.add(i, sr, gt, clip.gt[i].name)
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
        "num_frames": len(clip.gt),
        "metrics": scorer.summary() if status == "ok" else {},
        "frames": scorer.rows if status == "ok" else [],
        "cost": meter.record() if entry.kind == "method" else None,
        "profile_row": scorer.profile_row,
    }
    profiles = scorer.profiles() if status == "ok" else None
    return result, profiles


# ---------------------------------------------------------------------------------- run


def _settings_key(settings: dict) -> str:
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _clip_fingerprint(clip: Clip) -> str:
    names = "|".join(p.name for p in clip.gt) + "#" + "|".join(p.name for p in clip.lr or [])
    return hashlib.sha1(names.encode()).hexdigest()[:12]


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
    for mod in ("torchvision", "lpips"):
        try:
            versions[mod] = __import__(mod).__version__
        except (ImportError, AttributeError):
            versions[mod] = None
    return versions


def _open_dataset(dataset, root, lr_dir, scale) -> VideoSet:
    if isinstance(dataset, VideoSet):
        return dataset
    return get_dataset(dataset, root=root, lr_dir=lr_dir, scale=scale)


def _device(device: str | torch.device) -> torch.device:
    import os

    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None and "LOCAL_RANK" in os.environ:
        dev = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda requested but CUDA is not available; use --device cpu")
    return dev


def _load_model(entry: Entry, scale: int, device: torch.device) -> tuple[torch.nn.Module, float]:
    from vsrzoo.factory import create_model

    start = time.perf_counter()
    if entry.model is not None:
        model = entry.model
    else:
        kwargs = {"scale": scale} if scale != 4 else {}
        model = create_model(entry.name, variant=entry.variant or "tiny", pretrained=entry.ckpt, **kwargs)
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
    protocol: str = "standard",
    metrics: str | list[str] | None = None,
    flow: str = "dis",
    flow_from: str = "gt",
    lpips_net: str = "alex",
    out: str | Path | None = None,
    force: bool = False,
    shard: str | tuple[int, int] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
    report: bool = True,
) -> BenchResult:
    """Benchmark methods and/or folders of outputs on a dataset.

    ``methods``: 'name[:variant]' strings, VSRMethod instances, or a dict label -> either
    (default ['bicubic'] when no ``outputs``). ``outputs``: folders laid out as
    ``<clip>/<frame>.png`` (or 'LABEL=DIR', or a dict label -> folder). ``metrics``: comma list
    or 'all' (default psnr,ssim,ewarp); ``lpips_net``: 'alex' (the convention) or 'vgg'. ``out``: folder for per-clip results and the report
    (None keeps everything in memory: no resume, no report). ``shard``: 'i/n' or (i, n).
    """
    ds = _open_dataset(dataset, root, lr_dir, scale)
    metric_names = parse_metrics(metrics)
    proto = get_protocol(protocol, ds.y_channel)
    if flow_from not in ("gt", "output"):
        raise UserError(f"--flow-from must be 'gt' or 'output', got '{flow_from}'")
    entries = make_entries(methods, outputs, ckpt)
    shard_spec = resolve_shard(shard)
    if shard_spec is not None and out is None:
        raise UserError("--shard needs --out: shards merge their results through that folder")
    dev = _device(device)
    _check_clip_lengths(ds, proto)
    output_paths = {e.label: check_outputs(e.outputs, ds) for e in entries if e.kind == "outputs"}
    tools = _build_tools(metric_names, flow, lpips_net, dev)
    settings = _run_settings(ds, proto, metric_names, tools, flow_from)
    store = ClipStore(Path(out) if out is not None else None)
    keys = _result_keys(ds, entries, settings)
    todo = _todo(ds, entries, store, keys, shard_spec, force)

    def make_scorer(n):
        return ClipScorer(metric_names, proto, n, tools["flow"], flow_from, tools["lpips"])

    _run_units(todo, store, keys, output_paths, make_scorer, scale, dev, progress)
    result = _collect(ds, entries, store, keys, proto, metric_names, settings, out)
    if result.complete and out is not None and report:
        from vsrzoo.bench.report import write_report

        write_report(result, store)
    return result


def _result_keys(ds: VideoSet, entries: list[Entry], settings: dict) -> dict[str, dict[str, str]]:
    """entry label -> clip -> the key a stored result must carry to be reused."""
    return {
        e.label: {
            c.name: _settings_key({**settings, "entry": e.settings(), "clip": _clip_fingerprint(c)})
            for c in ds.clips
        }
        for e in entries
    }


def _todo(ds, entries, store, keys, shard_spec, force) -> list[tuple[Entry, Clip]]:
    """(entry, clip) pairs this process must compute: its shard's clips not already done."""
    if shard_spec is None:
        mine = ds.clips
    else:
        owners = assign_shards([len(c.gt) for c in ds.clips], shard_spec[1])
        mine = [c for c, o in zip(ds.clips, owners) if o == shard_spec[0]]
    return [
        (e, c)
        for e in entries
        for c in mine
        if force or not _is_done(store.load(e.label, c.name), keys[e.label][c.name])
    ]


def _check_clip_lengths(ds: VideoSet, proto: Protocol) -> None:
    need = proto.skip_first + proto.skip_last + 1
    short = [c.name for c in ds.clips if len(c.gt) < need]
    if short:
        raise UserError(
            f"protocol {proto.name} needs at least {need} frames per clip; too short: {', '.join(short)}"
        )


def _build_tools(metric_names: list[str], flow: str, lpips_net: str, device: torch.device) -> dict:
    """Flow backend and LPIPS network, built once and only if a requested metric needs them."""
    from vsrzoo.metrics.flow import get_flow

    tools = {"flow": None, "lpips": None}
    if {"lpips", "tlpips"} & set(metric_names):
        from vsrzoo.metrics.lpips import LPIPS

        tools["lpips"] = LPIPS(net=lpips_net).to(device)
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
    }


def _is_done(stored: dict | None, key: str) -> bool:
    return stored is not None and stored.get("settings_key") == key and stored.get("status") == "ok"


def _run_units(todo, store, keys, output_paths, make_scorer, scale, device, progress) -> None:
    from tqdm.auto import tqdm

    total = sum(len(c.gt) for _, c in todo)
    with tqdm(total=total, unit="frame", disable=not progress or total == 0, dynamic_ncols=True) as bar:
        for entry in dict.fromkeys(e.label for e, _ in todo):
            units = [(e, c) for e, c in todo if e.label == entry]
            _run_entry(units, store, keys, output_paths, make_scorer, scale, device, bar)


def _precision(model: torch.nn.Module | None) -> tuple[str, int | None]:
    """(parameter dtype, sampling steps) of a method, for the cost record."""
    if model is None:
        return "", None
    dtype = next(iter(model.parameters()), torch.empty(0)).dtype
    return str(dtype).removeprefix("torch."), getattr(model, "num_inference_steps", None)


def _run_entry(units, store, keys, output_paths, make_scorer, scale, device, bar) -> None:
    entry = units[0][0]
    model, load_s, guard = None, 0.0, None
    if entry.kind == "method":
        model, load_s = _load_model(entry, scale, device)
        guard = _nan_guard(model)
    try:
        for _, clip in units:
            bar.set_description(f"{entry.label} {clip.name}")
            meter = CostMeter(device, *_precision(model))
            result, profiles = _score_clip(entry, clip, model, output_paths, make_scorer, meter, bar)
            result["settings_key"] = keys[entry.label][clip.name]
            result["load_seconds"] = load_s
            if profiles is not None:
                store.save_profile(GT_LABEL, clip.name, profiles[0])
            store.save(entry.label, clip.name, result, profiles[1] if profiles is not None else None)
            if result["status"] != "ok":
                log.warning("%s: clip %s failed: %s", entry.label, clip.name, result["error"])
    finally:
        if guard is not None:
            guard.remove()


def _collect(ds, entries, store, keys, proto, metric_names, settings, out) -> BenchResult:
    table, complete = {}, True
    for e in entries:
        clips = {}
        for c in ds.clips:
            stored = store.load(e.label, c.name)
            valid = stored is not None and stored.get("settings_key") == keys[e.label][c.name]
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

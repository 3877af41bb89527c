"""Precomputed training pairs: expensive degradations made once, offline, then streamed.

Why: SimpleGVR's model-guided degradation (arXiv 2506.19838, Sec. 3.2) runs a 1.42B video DiT
per clip. Inside DataLoader workers that is about 6.6 GB of fp32 weights per worker and 20-54 s
per DiT forward on CPU, so training would wait on its data. The paper trains stage 2 on a fixed
set of 30K pairs made beforehand; ``vsrzoo data pairs SPEC.yaml device=cuda`` does the same
(:func:`write_pairs`) and ``data.dataset: pairs`` (:class:`PrecomputedPairs`) streams them.

Layout (ours): ``<out>/vsrzoo_pairs.json`` (the spec, the source dataset and the vsrzoo version)
and one ``<j:06d>.safetensors`` per pair holding ``lr``, uint8 ``(T, h, w, 3)``, exactly what the
degradation returned. Pair ``j`` is the training item ``(epoch j // N, index j % N)`` of the
source set (N items, one per clip and start frame, as :class:`~vsrzoo.data.train_clips.TrainClips`
counts them), so its GT crop (position, flips, reversal) is re-read from the source GT at
training time instead of stored: a 17-frame 512x512 GT crop is 13 MB, its 128x128 LR 0.8 MB
(30K pairs: 25 GB at 17 frames, 114 GB at 77). ``shard=i shards=n`` splits the work over n
processes (one per GPU) writing the same folder.
Each file records the SHA-1 of its GT crop, checked when read, so a changed GT folder is an
error rather than silently mismatched pairs. Writing resumes: pairs already on disk are kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch.utils.data import Dataset

from vsrzoo.errors import MissingDataError, UserError

PAIRS = "pairs"  # the dataset name recipes use
RECORD = "vsrzoo_pairs.json"


@dataclass
class PairsSpec:
    """What ``vsrzoo data pairs`` makes: ``count`` pairs of the source set's training crops."""

    dataset: str = "reds"
    root: str | None = None
    gt_dir: str | None = None
    train_clips: list[str] | None = None
    scale: int = 4
    num_frames: int = 17
    crop_size: int = 128
    augment: bool = True
    degradation: str = "mixture"
    degradation_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    count: int = 30000
    out: str = "data/simplegvr-pairs"
    device: str = "cpu"
    shard: int = 0  # this process writes pairs j with j % shards == shard (one process per GPU)
    shards: int = 1


def load_spec(path: str | Path | None, overrides: list[str] = ()) -> PairsSpec:
    """A :class:`PairsSpec` from YAML plus ``key=value`` overrides; unknown keys are UserErrors."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        cfg = OmegaConf.structured(PairsSpec)
        if path is not None:
            if not Path(path).is_file():
                raise UserError(f"pairs spec not found: {path}")
            cfg = OmegaConf.merge(cfg, OmegaConf.load(path))
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as exc:
        raise UserError(f"pairs spec: {getattr(exc, 'msg', exc)}".splitlines()[0]) from exc
    spec = PairsSpec(**OmegaConf.to_container(cfg, resolve=True))
    if spec.count < 1:
        raise UserError(f"pairs spec: count must be >= 1, got {spec.count}")
    if not 0 <= spec.shard < spec.shards:
        raise UserError(
            f"pairs spec: shard must satisfy 0 <= shard < shards, got {spec.shard} of {spec.shards}"
        )
    return spec


def on_device(kwargs: dict[str, Any], name: str, device: str) -> dict[str, Any]:
    """Degradation kwargs with ``device`` set for every (nested mixture) component that takes one."""
    import inspect

    from vsrzoo.data.degradations import DEGRADATIONS

    kwargs = dict(kwargs)
    if "device" in inspect.signature(DEGRADATIONS[name].__init__).parameters:
        kwargs.setdefault("device", device)
    if name == "mixture":
        kwargs["components"] = [
            {**c, "kwargs": on_device(dict(c.get("kwargs") or {}), c["name"], device)}
            for c in kwargs.get("components") or []
        ]
    return kwargs


def source_items(spec: PairsSpec):
    """The source set's training items (:class:`TrainClips`) with the spec's degradation."""
    from vsrzoo.data.datasets import get_dataset
    from vsrzoo.data.train_clips import TrainClips

    videos = get_dataset(
        spec.dataset,
        spec.root,
        scale=spec.scale,
        gt_dir=spec.gt_dir,
        degradation=spec.degradation,
        degradation_kwargs=on_device(spec.degradation_kwargs, spec.degradation, spec.device),
        seed=spec.seed,
        clips=spec.train_clips,
    )
    return TrainClips(videos, spec.num_frames, spec.crop_size, spec.augment, spec.seed)


def pair_key(j: int, items: int) -> tuple[int, int]:
    """The source training key of pair ``j``: every (clip, start) once per pass, new crops each pass."""
    return j // items, j % items


def _digest(gt: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(gt).tobytes()).hexdigest()


def _record(spec: PairsSpec) -> dict[str, Any]:
    from vsrzoo import __version__

    # where and by how many processes they were made does not change the bytes
    spec = dataclasses.replace(spec, device="any", shard=0, shards=1)
    return {"spec": dataclasses.asdict(spec), "vsrzoo": __version__}


def write_pairs(spec: PairsSpec, overwrite: bool = False, log=None) -> Path:
    """Write ``spec.count`` pairs under ``spec.out`` (resuming a partial folder made by the same spec)."""
    out = Path(spec.out)
    record = _record(spec)
    path = out / RECORD
    if path.is_file() and json.loads(path.read_text())["spec"] != record["spec"] and not overwrite:
        raise UserError(
            f"{out} holds pairs made by another spec (see {path}); pass --overwrite or another out="
        )
    items = source_items(spec)
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{RECORD}.{spec.shard}.partial")  # shards may write it at the same time
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)
    for j in range(spec.shard, spec.count, spec.shards):
        file = out / f"{j:06d}.safetensors"
        if file.is_file() and not overwrite:
            continue
        key = pair_key(j, len(items))
        gt, lr, clip = items.raw(key)
        meta = {"clip": clip, "key": f"{key[0]},{key[1]}", "gt_sha1": _digest(gt)}
        tmp = file.with_name(f".{file.name}.partial")
        save_file({"lr": torch.from_numpy(np.ascontiguousarray(lr))}, str(tmp), metadata=meta)
        os.replace(tmp, file)
        if log is not None:
            log(j, clip)
    return out


def source_root(root: str | Path | None) -> str | None:
    """The data root the pairs under ``root`` were made from (validation sets live there too)."""
    path = Path(root) / RECORD if root is not None else None
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text())["spec"]["root"]


class PrecomputedPairs(Dataset):
    """The first ``length`` pairs under ``root``: LR read from disk, GT re-read from the source set.

    Keys are ``(epoch, index)`` from the datamodule's sampler or plain indices; the pairs are a
    fixed set (as the paper's 30K), so the epoch does not change an item. ``num_frames``,
    ``crop_size`` and ``scale`` must be those the pairs were made with.
    """

    def __init__(self, root: str | Path | None, num_frames: int, crop_size: int, scale: int, length: int):
        if root is None:
            raise UserError("dataset 'pairs' needs data.root: a folder written by `vsrzoo data pairs`")
        self.root = Path(root)
        path = self.root / RECORD
        if not path.is_file():
            raise MissingDataError(
                f"no precomputed pairs at {self.root} ({RECORD} not found); make them with `vsrzoo data pairs`"
            )
        self.spec = PairsSpec(**json.loads(path.read_text())["spec"])
        made = {
            "num_frames": self.spec.num_frames,
            "crop_size": self.spec.crop_size,
            "scale": self.spec.scale,
        }
        wanted = {"num_frames": num_frames, "crop_size": crop_size, "scale": scale}
        if made != wanted:
            raise UserError(f"pairs at {self.root} were made with {made}, the recipe asks for {wanted}")
        present = sum(1 for j in range(length) if (self.root / f"{j:06d}.safetensors").is_file())
        if present < length:
            raise MissingDataError(
                f"{present} of the {length} pairs (data.clips_per_epoch) are under {self.root}; "
                f"rerun `vsrzoo data pairs` with count >= {length} to finish them"
            )
        self.length = length
        self.items = source_items(dataclasses.replace(self.spec, device="cpu"))

    def describe(self) -> str:
        s = self.spec
        what = s.degradation
        if s.degradation == "mixture":
            what += " of " + ", ".join(c["name"] for c in s.degradation_kwargs.get("components", []))
        return f"{self.length} precomputed pairs ({what}) of {s.dataset}, made by `vsrzoo data pairs`"

    def __len__(self) -> int:
        return self.length

    def read(self, j: int) -> tuple[np.ndarray, np.ndarray, str]:
        """uint8 (GT, LR, clip name) of pair ``j``."""
        with safe_open(str(self.root / f"{j:06d}.safetensors"), "pt") as f:
            lr, meta = f.get_tensor("lr").numpy(), f.metadata()
        epoch, index = (int(v) for v in meta["key"].split(","))
        gt, _, clip = self.items.raw((epoch, index), degrade=False)
        if _digest(gt) != meta["gt_sha1"] or clip != meta["clip"]:
            raise UserError(
                f"pair {j} under {self.root}: the GT crop of {meta['clip']} differs from when the pairs were "
                "made (another GT folder or vsrzoo version); remake them with `vsrzoo data pairs --overwrite`"
            )
        return gt, lr, clip

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        from vsrzoo.data.procedural import as_float

        gt, lr, clip = self.read(key[1] if isinstance(key, tuple) else key)
        return {"lr": as_float(lr), "gt": as_float(gt), "clip": clip}

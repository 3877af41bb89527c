"""The training/validation LightningDataModule shared by every vsrzoo method.

Training samples follow BasicSR's video recipe (BasicVSR, arXiv 2012.02181): ``num_frames``
consecutive frames of a clip, an aligned random crop (LR ``crop_size`` x ``crop_size``, GT
``crop_size * scale``), random horizontal/vertical flips, transposition and temporal
reversal. LR is read from disk or made from the GT crop by a degradation (realbasicvsr
degrades GT crops the same way). Every random choice of a sample comes from a generator
seeded with ``(seed, epoch, index)``, so batches do not depend on the number of workers and a
run is reproducible. Validation runs on whole clips, batch size 1.

reconstruction: one training item per (clip, start frame) as BasicSR's REDS dataset does,
``crop_size`` counts LR pixels, and with an on-the-fly degradation the GT crop is augmented
before it is degraded (RealBasicVSR's order).

Batches are dicts ``{"lr": (B, T, 3, h, w), "gt": (B, T, 3, h*s, w*s), "clip": list[str]}``
of float32 in [0, 1]. A method may add fields computed in the DataLoader workers (so the
accelerator does not wait for them) through its ``train_sample_transform`` attribute, a picklable
callable ``sample -> sample`` (InstaVSR's DIS flows).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import lightning as L
import numpy as np
from torch.utils.data import DataLoader, Dataset, Sampler

from vsrzoo.data.datasets import VideoSet, check_pair, get_dataset
from vsrzoo.data.degradations import clip_seed
from vsrzoo.data.io import read_image
from vsrzoo.data.latents import LATENTS, LatentPairs
from vsrzoo.data.pairs import PAIRS, PrecomputedPairs, source_root
from vsrzoo.data.procedural import PROCEDURAL, Motion, ProceduralClips, as_float
from vsrzoo.data.train_clips import TrainClips
from vsrzoo.errors import UserError


class WholeClips(Dataset):
    """Whole clips (at most ``max_frames`` frames each) for validation."""

    def __init__(self, videos: VideoSet, max_frames: int | None = None):
        self.videos, self.max_frames = videos, max_frames

    def __len__(self) -> int:
        return len(self.videos.clips)

    def __getitem__(self, index: int) -> dict[str, Any]:
        clip = self.videos.clips[index]
        n = len(clip) if self.max_frames is None else min(self.max_frames, len(clip))
        gt = np.stack([f for _, f in zip(range(n), clip.read_gt())])
        if clip.lr is None:
            lr = clip.degrade(
                np.stack([read_image(p) for p in clip.gt[:n]]), seed=clip_seed(clip.seed, clip.name)
            )
        else:
            lr = np.stack([f for _, f in zip(range(n), clip.read_lr())])
        for t in range(n):
            problem = check_pair(
                clip.name, clip.gt[t].name, gt[t].shape[:2], lr[t].shape[:2], self.videos.scale
            )
            if problem:
                raise UserError(f"{self.videos.name}: {problem}")
        return {"lr": as_float(lr), "gt": as_float(gt), "clip": clip.name}


class Transformed(Dataset):
    """``dataset`` with ``transform`` applied to every sample (in the DataLoader workers)."""

    def __init__(self, dataset: Dataset, transform):
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        return self.transform(self.dataset[key])


class EpochSampler(Sampler):
    """Shuffles indices per epoch from ``seed`` and yields ``(epoch, index)`` keys.

    Lightning calls :meth:`set_epoch` at the start of every epoch, so each epoch sees new
    crops while a rerun with the same seed sees the same ones.
    """

    def __init__(self, length: int, seed: int = 0, shuffle: bool = True):
        self.length, self.seed, self.shuffle, self.epoch = length, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = np.arange(self.length)
        if self.shuffle:
            order = np.random.default_rng(clip_seed(self.seed, "order", self.epoch)).permutation(self.length)
        return iter([(self.epoch, int(i)) for i in order])


class VSRDataModule(L.LightningDataModule):
    """Training crops and validation clips of a dataset preset; the recipe's ``data`` section is its config.

    Arguments mirror :class:`vsrzoo.recipes.DataConfig`: ``crop_size`` is the LR patch size;
    ``degradation`` (with ``degradation_kwargs``) makes LR from GT on the fly instead of reading
    ``lr_dir``. Validation uses ``val_dataset`` (default: ``dataset``), restricted to
    ``val_clips`` and capped at ``val_max_frames`` frames per clip; it uses the training LR
    settings when it is the same dataset, else its preset's LR folder (or ``val_lr_dir`` /
    ``val_degradation``). ``dataset: procedural`` trains on :mod:`vsrzoo.data.procedural`'s
    unlimited random clips (``clips_per_epoch`` of them per epoch, new ones every epoch,
    ``still_fraction`` of the training ones filmed by a still camera);
    ``val_dataset: procedural`` validates on a fixed, separately seeded set of them.
    ``dataset: latents`` reads precomputed latent pairs from ``root`` (:mod:`vsrzoo.data.latents`,
    SimpleGVR's latent cascade), ``num_frames`` counting latent frames; ``train_clips`` /
    ``val_clips`` pick files.
    ``dataset: pairs`` streams the first ``clips_per_epoch`` pairs that ``vsrzoo data pairs``
    wrote under ``root`` (:mod:`vsrzoo.data.pairs`: degradations too costly for data workers,
    such as SimpleGVR's model-guided one); ``val_dataset`` is then read from the root the pairs
    were made from.
    """

    def __init__(
        self,
        dataset: str = "sample",
        root: str | None = None,
        lr_dir: str | None = None,
        degradation: str | None = None,
        degradation_kwargs: dict | None = None,
        scale: int = 4,
        num_frames: int = 5,
        crop_size: int = 64,
        batch_size: int = 2,
        num_workers: int = 0,
        pin_memory: bool = False,
        augment: bool = True,
        train_clips: list[str] | None = None,
        val_dataset: str | None = None,
        val_clips: list[str] | None = None,
        val_max_frames: int | None = None,
        seed: int = 0,
        gt_dir: str | None = None,
        val_lr_dir: str | None = None,
        val_degradation: str | None = None,
        clips_per_epoch: int = 1000,
        still_fraction: float = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters()
        for key, value in (("num_frames", num_frames), ("crop_size", crop_size), ("batch_size", batch_size)):
            if value < 1:
                raise UserError(f"data.{key} must be >= 1, got {value}")
        if val_max_frames is not None and val_max_frames < 1:
            raise UserError(f"data.val_max_frames must be >= 1, got {val_max_frames}")
        self.cfg = dict(self.hparams)
        self.train_set: TrainClips | None = None
        self.val_set: WholeClips | None = None

    @classmethod
    def from_recipe(cls, data_cfg: Any) -> VSRDataModule:
        """Build from a recipe's ``data`` section (DictConfig, DataConfig or plain dict)."""
        from omegaconf import DictConfig, OmegaConf

        if isinstance(data_cfg, DictConfig):
            data_cfg = OmegaConf.to_container(data_cfg, resolve=True)
        elif dataclasses.is_dataclass(data_cfg):
            data_cfg = dataclasses.asdict(data_cfg)
        return cls(**dict(data_cfg))

    @property
    def scale(self) -> int:
        return self.cfg["scale"]

    def _open(self, name: str, lr_dir: str | None, degradation: str | None, clips) -> VideoSet:
        c = self.cfg
        return get_dataset(
            name,
            source_root(c["root"]) if c["dataset"] == PAIRS else c["root"],  # root holds the pairs
            lr_dir,
            c["scale"],
            gt_dir=c["gt_dir"],
            degradation=degradation,
            degradation_kwargs=c["degradation_kwargs"],
            seed=c["seed"],
            clips=clips,
        )

    def setup(self, stage: str | None = None) -> None:
        c = self.cfg
        if stage in (None, "fit") and self.train_set is None and c["dataset"] == PROCEDURAL:
            self.train_set = self._procedural("train", c["clips_per_epoch"], c["num_frames"], c["crop_size"])
        if stage in (None, "fit") and self.train_set is None and c["dataset"] == LATENTS:
            self.train_set = LatentPairs(
                c["root"], c["num_frames"], c["train_clips"], c["clips_per_epoch"], c["seed"]
            )
        if stage in (None, "fit") and self.train_set is None and c["dataset"] == PAIRS:
            self.train_set = PrecomputedPairs(
                c["root"], c["num_frames"], c["crop_size"], c["scale"], c["clips_per_epoch"]
            )
        if stage in (None, "fit") and self.train_set is None:
            videos = self._open(c["dataset"], c["lr_dir"], c["degradation"], c["train_clips"])
            self.train_set = TrainClips(videos, c["num_frames"], c["crop_size"], c["augment"], c["seed"])
        if stage in (None, "fit", "validate") and self.val_set is None and self._val_name() == LATENTS:
            self.val_set = LatentPairs(
                c["root"], c["val_max_frames"] or c["num_frames"], c["val_clips"], seed=c["seed"]
            )
        if stage in (None, "fit", "validate") and self.val_set is None and self._val_name() == PROCEDURAL:
            n = len(c["val_clips"] or ()) or 4
            self.val_set = self._procedural("val", n, c["val_max_frames"] or 8, max(c["crop_size"], 32))
        if stage in (None, "fit", "validate") and self.val_set is None:
            self.val_set = WholeClips(self._open_val(), c["val_max_frames"])

    def _val_name(self) -> str:
        return self.cfg["val_dataset"] or self.cfg["dataset"]

    def _procedural(self, split: str, length: int, num_frames: int, crop_size: int) -> ProceduralClips:
        c = self.cfg
        return ProceduralClips(
            num_frames,
            crop_size,
            c["scale"],
            length,
            c["degradation"] if split == "train" else c["val_degradation"] or c["degradation"],
            c["degradation_kwargs"],
            c["seed"],
            split,
            Motion(still_fraction=c["still_fraction"] if split == "train" else 0.0),
        )

    def _open_val(self) -> VideoSet:
        c = self.cfg
        name = self._val_name()
        same = name == c["dataset"]
        lr_dir = c["val_lr_dir"] or (c["lr_dir"] if same else None)
        degradation = c["val_degradation"] or (c["degradation"] if same and not c["val_lr_dir"] else None)
        return self._open(name, lr_dir, degradation, c["val_clips"])

    def train_dataloader(self) -> DataLoader:
        self.setup("fit")
        c = self.cfg
        if len(self.train_set) < c["batch_size"]:
            raise UserError(
                f"{len(self.train_set)} training samples, fewer than data.batch_size={c['batch_size']}"
            )
        module = self.trainer.lightning_module if self.trainer is not None else None
        transform = getattr(module, "train_sample_transform", None)
        return DataLoader(
            Transformed(self.train_set, transform) if transform is not None else self.train_set,
            batch_size=c["batch_size"],
            sampler=EpochSampler(len(self.train_set), c["seed"]),
            num_workers=c["num_workers"],
            pin_memory=c["pin_memory"],
            drop_last=True,
            persistent_workers=c["num_workers"] > 0,
        )

    def val_dataloader(self) -> DataLoader:
        self.setup("validate")
        c = self.cfg
        return DataLoader(
            self.val_set,
            batch_size=1,
            shuffle=False,
            num_workers=c["num_workers"],
            pin_memory=c["pin_memory"],
        )

"""Epoch arithmetic of a recipe: batches per epoch per rank, and the Trainer's step counts checked against it.

Why: Lightning checks ``val_check_interval`` against the training batches of one epoch on one
rank only inside ``trainer.fit``, after the weights have loaded (minutes into a paper-scale
job). The count depends on the dataset length, the batch size and the world size, all known
from the recipe, so ``vsrzoo fit`` and ``fit --dry-run`` check it first.

Batches per epoch per rank follow what the run does: the training loader drops the last
incomplete batch; under more than one process Lightning wraps the sampler in a
``DistributedSampler`` (``drop_last=False``), which pads every rank to ``ceil(N / world)``
samples. ``trainer.limit_train_batches`` then caps the count as Lightning does.
"""

from __future__ import annotations

import math
from typing import Any

from vsrzoo.errors import UserError


def world_size(trainer: Any) -> int:
    """Processes of the run from ``trainer.devices`` x ``trainer.num_nodes`` (1 when devices is 'auto')."""
    devices = trainer.get("devices", 1)
    if isinstance(devices, str):
        devices = len([d for d in devices.split(",") if d.strip()]) if "," in devices else devices
        devices = int(devices) if str(devices).isdigit() else 1
    elif not isinstance(devices, int):
        devices = len(devices)  # a list of device indices
    return max(int(devices), 1) * int(trainer.get("num_nodes") or 1)


def batches_per_epoch(samples: int, batch_size: int, world: int, limit: int | float | None = None) -> int:
    """Training batches one rank runs per epoch (drop_last loader over a padded distributed shard)."""
    per_rank = math.ceil(samples / world) if world > 1 else samples
    batches = per_rank // batch_size
    if isinstance(limit, int) and not isinstance(limit, bool):
        return min(batches, limit)
    if isinstance(limit, float):
        return int(batches * limit)
    return batches


# Published clip lengths of training sets (frames per clip), for recipes checked where the data is not.
# reds: BasicSR's regrouping (train_sharp 000-239 plus val_sharp 000-029 as 240-269) minus REDS4.
TRAINING_SETS = {"reds": [100] * 266}


def preset_samples(data: Any) -> int | None:
    """Training items of a known training set from its published clip lengths (no disk), else None.

    One item per (clip, start frame), as :class:`vsrzoo.data.train_clips.TrainClips` counts them.
    """
    lengths = TRAINING_SETS.get(str(data.dataset))
    if lengths is None or data.get("train_clips"):
        return None
    return sum(max(n - int(data.num_frames) + 1, 0) for n in lengths)


def training_samples(data: Any) -> int | None:
    """Training items per epoch of the recipe's data: ``clips_per_epoch`` for generated, latent or
    precomputed-pair data, else the training set's published length (the data on disk, when opened, is the authority)."""
    from vsrzoo.data.latents import LATENTS
    from vsrzoo.data.pairs import PAIRS
    from vsrzoo.data.procedural import PROCEDURAL

    if data.dataset in (PROCEDURAL, LATENTS, PAIRS):
        return int(data.clips_per_epoch)
    return preset_samples(data)


def check_trainer_steps(trainer: Any, samples: int, batch_size: int) -> int:
    """Batches per epoch per rank; UserError when an integer ``val_check_interval`` exceeds them
    while validation counts per epoch (Lightning would raise at ``trainer.fit``)."""
    world = world_size(trainer)
    batches = batches_per_epoch(samples, batch_size, world, trainer.get("limit_train_batches"))
    if batches < 1:
        raise UserError(
            f"{samples} training samples over {world} process(es) at data.batch_size={batch_size} "
            "give no full batch per rank; lower the batch size or the number of devices"
        )
    interval = trainer.get("val_check_interval")
    validates = trainer.get("limit_val_batches", 1.0) not in (0, 0.0)
    per_epoch = trainer.get("check_val_every_n_epoch", 1) is not None
    if isinstance(interval, int) and not isinstance(interval, bool) and interval > batches:
        if validates and per_epoch:
            raise UserError(
                f"trainer.val_check_interval={interval} exceeds the {batches} training batches per epoch per "
                f"rank ({samples} samples / {world} processes / batch {batch_size}); set "
                "trainer.check_val_every_n_epoch=null to count it in total steps, or lower it"
            )
    return batches

"""What a benchmark compares: entries (columns), each a registered method or a folder of
existing outputs, parsed from ``--method NAME[:VARIANT]`` / ``--outputs [LABEL=]DIR`` or given as
model instances."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from vsrzoo.bench.fingerprint import weights_digest
from vsrzoo.errors import UserError

__all__ = ["Entry", "default_methods", "make_entries"]


@dataclass
class Entry:
    """One column of the comparison: a registered method or a folder of existing outputs."""

    label: str
    name: str | None = None
    variant: str | None = None
    ckpt: str | None = None
    outputs: Path | None = None
    model: torch.nn.Module | None = None
    segment_length: int | None = None  # outputs folders: segments of the frames (boundary metric)

    @property
    def kind(self) -> str:
        return "outputs" if self.outputs is not None else "method"

    def settings(self) -> dict:
        if self.outputs is not None:
            seg = {"segment_length": self.segment_length} if self.segment_length is not None else {}
            return {"outputs": str(self.outputs.resolve()), **seg}
        name = self.name or getattr(self.model, "method_name", type(self.model).__name__)
        ckpt = self.ckpt
        if ckpt == "builtin":
            from vsrzoo.methods.base import WEIGHTS_NAME, builtin_dir

            ckpt = builtin_dir() / f"{self.name}-{self.variant or 'tiny'}" / WEIGHTS_NAME
        config = getattr(self.model, "hparams", None) if self.model is not None else None
        return {
            "method": name,
            "variant": self.variant,
            "ckpt": str(Path(ckpt).resolve()) if ckpt is not None else None,
            "weights": weights_digest(Path(ckpt)) if ckpt is not None else None,
            "config": dict(config) if config else None,
        }


def _split_spec(spec: str) -> tuple[str, str | None]:
    name, _, variant = spec.partition(":")
    return name, variant or None


def default_methods() -> list[str]:
    """What runs when no method is named: bicubic plus every method with shipped tiny weights."""
    from vsrzoo.factory import has_builtin_weights, list_models

    return ["bicubic"] + [m for m in list_models() if m != "bicubic" and has_builtin_weights(m)]


def make_entries(methods=None, outputs=None, ckpt=None, segment_length: int | None = None) -> list[Entry]:
    """Entries from method names ('name[:variant]'), model instances and output folders
    (``segment_length``: the segments the folders' frames were made in)."""
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
    entries += _output_entries(outputs, segment_length)
    labels = [e.label for e in entries]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise UserError(f"two entries share the label {', '.join(dupes)}; use LABEL=DIR for --outputs")
    if any(x.startswith("_") for x in labels):
        raise UserError("entry labels must not start with '_'")
    return entries


def _output_entries(outputs, segment_length: int | None = None) -> list[Entry]:
    if segment_length is not None and (outputs is None or int(segment_length) < 1):
        raise UserError(
            f"--segment-length {segment_length}: give a number of frames >= 1, with --outputs "
            "(a method's segments come from the method)"
        )
    if outputs is None:
        return []
    if isinstance(outputs, (str, Path)):
        outputs = [outputs]
    pairs = list(outputs.items()) if isinstance(outputs, dict) else [_label_dir(o) for o in outputs]
    return [Entry(label, outputs=Path(folder), segment_length=segment_length) for label, folder in pairs]


def _label_dir(spec: str | Path) -> tuple[str, Path]:
    text = str(spec)
    if "=" in text and not Path(text).exists():
        label, _, folder = text.partition("=")
        return label, Path(folder)
    return Path(text).resolve().name, Path(text)

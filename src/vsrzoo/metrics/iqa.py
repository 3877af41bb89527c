"""Perceptual (DISTS) and no-reference image quality (MUSIQ, CLIP-IQA, NIQE) through pyiqa
(IQA-PyTorch, Chen et al., https://github.com/chaofengc/IQA-PyTorch), the library the diffusion
VSR papers' evaluation scripts call (DESIGN.md section 4).

- DISTS: Ding et al., "Image Quality Assessment: Unifying Structure and Texture Similarity",
  TPAMI 2020 (arXiv 2004.07728); VGG16 features + pyiqa's learned alpha/beta.
- MUSIQ: Ke et al., "MUSIQ: Multi-scale Image Quality Transformer", ICCV 2021; KonIQ-10k head.
- CLIP-IQA: Wang et al., "Exploring CLIP for Assessing the Look and Feel of Images", AAAI 2023;
  pyiqa's ``clipiqa`` (CLIP RN50, antonym prompt pairs, no learned prompts).
- NIQE: Mittal et al., "Making a Completely Blind Image Quality Analyzer", SPL 2013; pyiqa's
  port on the Y channel with the MATLAB pristine-model parameters.

pyiqa computes the metrics (its ``forward`` methods are used unchanged) but its constructors
would download weights and unpickle them (full pickle loads). Here every
network is built with random weights, then the files are read from the caches pyiqa and
torchvision use (``$TORCH_HOME/hub/...``) with ``torch.load(weights_only=True)`` (NIQE's ``.mat``
with scipy, CLIP's TorchScript archive with :func:`clip_state`, which never executes the
archive), so nothing is fetched. A missing file is a :class:`MissingWeightsError` naming the
file, the folder and its source, raised by :func:`check_weights` before any work; a file that
is there but unusable is a one-line :class:`BadWeightsError` naming it and what is wrong.

pyiqa is an extra (``pip install "vsrzoo[iqa]"``): its own requirement list brings development
tools, transformers and bitsandbytes, which a VSR install does not need. Without it, asking for
one of these metrics is a one-line :class:`MissingExtraError`. With it, only the network modules
used here are imported (:func:`pyiqa_arch`), never the ``pyiqa`` package's ``__init__``, which
imports its datasets, transformers and bitsandbytes (whose import fetches kernels from the Hub).
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import pickle
import sys
import types
import warnings
import zipfile
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn
from torch._weights_only_unpickler import Unpickler as _WeightsOnlyUnpickler
from torch._weights_only_unpickler import get_globals_in_pkl

from vsrzoo.errors import BadWeightsError, MissingExtraError, MissingWeightsError, UserError, unknown
from vsrzoo.metrics.lpips import unit_frames
from vsrzoo.weight_files import (
    WeightFile,
    first_line,
    load_exact,
    read_state,
    require_files,
    unpickling_error,
)

__all__ = [
    "IQA_METRICS",
    "WEIGHT_FILES",
    "IQAMetric",
    "WeightFile",
    "check_weights",
    "pyiqa_arch",
    "require_pyiqa",
    "load_exact",
    "read_state",
    "require_files",
    "weight_path",
]

_HF = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/"


VGG16 = WeightFile(
    "vgg16-397923af.pth", "checkpoints", "https://download.pytorch.org/models/vgg16-397923af.pth"
)
WEIGHT_FILES: dict[str, tuple[WeightFile, ...]] = {
    "dists": (VGG16, WeightFile("DISTS_weights-f5e65c96.pth", "pyiqa", _HF + "DISTS_weights-f5e65c96.pth")),
    "musiq": (WeightFile("musiq_koniq_ckpt-e95806b9.pth", "pyiqa", _HF + "musiq_koniq_ckpt-e95806b9.pth"),),
    "clipiqa": (
        WeightFile(
            "RN50.pt",
            "clip",
            "https://openaipublic.azureedge.net/clip/models/"
            "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
        ),
    ),
    "niqe": (WeightFile("niqe_modelparameters.mat", "pyiqa", _HF + "niqe_modelparameters.mat"),),
}
NIQE_MIN = 96  # pyiqa's NIQE block size: smaller frames have no block to score
# metric -> full reference?
IQA_METRICS = {"dists": True, "musiq": False, "clipiqa": False, "niqe": False}


def weight_path(metric: str, index: int = 0) -> Path:
    """Where weight file ``index`` of ``metric`` must be."""
    if metric not in WEIGHT_FILES:
        raise unknown("IQA metric", metric, WEIGHT_FILES)
    return WEIGHT_FILES[metric][index].path


def check_weights(metric: str) -> list[Path]:
    """The weight files of ``metric``, or a one-line error for pyiqa or the first absent file."""
    if metric not in WEIGHT_FILES:
        raise unknown("IQA metric", metric, WEIGHT_FILES)
    require_pyiqa(metric)
    return require_files(metric, WEIGHT_FILES[metric])


def require_pyiqa(metric: str):
    """pyiqa's import spec, or a one-line MissingExtraError naming the extra that brings it."""
    spec = importlib.util.find_spec("pyiqa")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            f"{metric} is computed with pyiqa, which the base install leaves out; "
            'install it with: pip install "vsrzoo[iqa]"'
        )
    return spec


def pyiqa_arch(name: str, module: str | None = None) -> types.ModuleType:
    """pyiqa's module ``pyiqa.archs.<name>_arch`` (or ``pyiqa.archs.<module>``), imported without
    running ``pyiqa/__init__.py``: while it imports, an empty package object stands in for
    ``pyiqa``, and it is taken out again afterwards so that a later ``import pyiqa`` by the user
    still runs the real one."""
    full = f"pyiqa.archs.{module or name + '_arch'}"
    if full in sys.modules:
        return sys.modules[full]
    spec = require_pyiqa(name)
    stand_in = "pyiqa" not in sys.modules
    if stand_in:
        package = types.ModuleType("pyiqa")
        package.__path__, package.__spec__, package.__file__ = (
            list(spec.submodule_search_locations),
            spec,
            spec.origin,
        )
        sys.modules["pyiqa"] = package
    try:
        with warnings.catch_warnings():  # pkg_resources / timm deprecation notices
            warnings.simplefilter("ignore")
            return importlib.import_module(full)
    finally:
        if stand_in:
            del sys.modules["pyiqa"]


def _build_dists(paths: list[Path]) -> nn.Module:
    """pyiqa's DISTS network with torchvision's VGG16 features and pyiqa's alpha/beta."""
    import torchvision

    arch = pyiqa_arch("dists")

    class DISTS(arch.DISTS):
        # pyiqa's layout (stages of VGG16 features split by L2 pooling); its constructor downloads.
        def __init__(self, features: nn.Sequential):
            nn.Module.__init__(self)
            cuts = [(0, 4), (5, 9), (10, 16), (17, 23), (24, 30)]
            chans = [None, 64, 128, 256, 512]
            for i, (lo, hi) in enumerate(cuts):
                stage = nn.Sequential()
                if chans[i] is not None:
                    stage.add_module(str(lo - 1), arch.L2pooling(channels=chans[i]))
                for x in range(lo, hi):
                    stage.add_module(str(x), features[x])
                setattr(self, f"stage{i + 1}", stage)
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, -1, 1, 1))
            self.chns = [3, 64, 128, 256, 512, 512]
            self.alpha = nn.Parameter(torch.zeros(1, sum(self.chns), 1, 1))
            self.beta = nn.Parameter(torch.zeros(1, sum(self.chns), 1, 1))

    vgg = torchvision.models.vgg16(weights=None).features
    feats = {
        k.removeprefix("features."): v for k, v in read_state(paths[0]).items() if k.startswith("features.")
    }
    load_exact(vgg, feats, paths[0])
    net = DISTS(vgg)
    heads = read_state(paths[1])
    if "alpha" not in heads or "beta" not in heads:
        raise MissingWeightsError(f"{paths[1]} holds no DISTS 'alpha'/'beta' weights")
    net.load_state_dict(heads, strict=False)  # the file may repeat the VGG weights (pyiqa: strict=False)
    return net


def _build_musiq(paths: list[Path]) -> nn.Module:
    net = pyiqa_arch("musiq").MUSIQ(pretrained=False)  # KonIQ head: one output (pyiqa's default)
    load_exact(net, read_state(paths[0]), paths[0])
    return net


def clip_state(path: Path) -> dict[str, torch.Tensor]:
    """CLIP weights from OpenAI's file: a TorchScript archive or a plain state dict (weights-only).

    What is safe: the archive is never executed. Its ``code/`` and ``constants.pkl`` are not
    read; its ``data.pkl`` is read by torch's weights-only unpickler, where the archive's
    ``__torch__.*`` module classes become :class:`_ScriptModule` records (their ``__setstate__``
    never runs, so a crafted archive cannot call ``torch.from_file`` or anything else); tensors
    are rebuilt only by torch's allow-listed rebuild functions from bytes copied out of the
    ``data/`` records (never memory-mapped from a path). Only the tensors are kept.
    """
    with zipfile.ZipFile(path) if zipfile.is_zipfile(path) else nullcontext() as zf:
        names = zf.namelist() if zf is not None else []
    if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
        state = script_tensors(path)
    else:
        state = read_state(path)
    return {k: v.float() for k, v in state.items()}


class _ScriptModule:
    """An inert stand-in for a TorchScript module class while its pickle is read: keeps the state."""

    def __setstate__(self, state) -> None:
        self.state = state


def script_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a TorchScript archive's module tree, by attribute path, without executing it."""
    with zipfile.ZipFile(path) as zf:
        pkl = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pkl) != 1:
            raise BadWeightsError(f"{path} is not a TorchScript archive (no single <name>/data.pkl)")
        prefix, data = pkl[0][: -len("data.pkl")], zf.read(pkl[0])
        stand_ins = [
            (_ScriptModule, g) for g in get_globals_in_pkl(io.BytesIO(data)) if g.startswith("__torch__.")
        ]
        unpickler = _ArchiveUnpickler(io.BytesIO(data), zf, prefix, path)
        try:
            with torch.serialization.safe_globals(stand_ins):
                root = unpickler.load()
        except (
            pickle.UnpicklingError,
            RuntimeError,
            EOFError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
        ) as exc:
            raise unpickling_error(path, exc) from None
    return dict(_module_tensors(root))


def _module_tensors(obj, prefix: str = ""):
    """(name, tensor) of every tensor attribute in a tree of :class:`_ScriptModule` records."""
    state = getattr(obj, "state", None) if isinstance(obj, _ScriptModule) else None
    if not isinstance(state, dict):
        return
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            yield f"{prefix}{key}", value
        elif isinstance(value, _ScriptModule):
            yield from _module_tensors(value, f"{prefix}{key}.")


class _ArchiveUnpickler(_WeightsOnlyUnpickler):
    """torch's weights-only unpickler whose storages are copies of the archive's ``data/`` records."""

    def __init__(self, file, zf: zipfile.ZipFile, prefix: str, path: Path):
        super().__init__(file)
        self.zf, self.prefix, self.path, self.storages = zf, prefix, path, {}

    def persistent_load(self, pid):
        _, storage_type, key, _, numel = pid
        dtype = storage_type if isinstance(storage_type, torch.dtype) else storage_type.dtype
        if key not in self.storages:
            raw = bytearray(self.zf.read(f"{self.prefix}data/{key}"))
            if len(raw) < numel * torch.empty((), dtype=dtype).element_size():
                raise BadWeightsError(f"{self.path}: storage record {key} is shorter than it says")
            untyped = (
                torch.UntypedStorage.from_buffer(raw, dtype=torch.uint8) if raw else torch.UntypedStorage(0)
            )
            self.storages[key] = torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)
        return self.storages[key]


def _build_clipiqa(paths: list[Path]) -> nn.Module:
    arch = pyiqa_arch("clipiqa")
    build_model = pyiqa_arch("clipiqa", "clip_model").build_model

    class CLIPIQA(arch.CLIPIQA):
        # pyiqa's CLIPIQA ('clipiqa', RN50, no positional embedding); its constructor downloads.
        def __init__(self, clip_model: nn.Module):
            nn.Module.__init__(self)
            self.clip_model = [clip_model]  # as pyiqa: not a registered submodule
            self.prompt_pairs = arch.clip.tokenize(PROMPTS)
            self.model_type, self.pos_embedding = "clipiqa", False
            self.default_mean = torch.Tensor(arch.OPENAI_CLIP_MEAN).view(1, 3, 1, 1)
            self.default_std = torch.Tensor(arch.OPENAI_CLIP_STD).view(1, 3, 1, 1)

        def to(self, *args, **kwargs):
            self.clip_model[0].to(*args, **kwargs)
            return super().to(*args, **kwargs)

    state = clip_state(paths[0])
    try:
        model = build_model(state)
    except (KeyError, AssertionError, RuntimeError, ValueError, IndexError, TypeError) as exc:
        raise BadWeightsError(f"{paths[0]} is not a CLIP checkpoint ({first_line(exc)})") from None
    return CLIPIQA(model.float().eval().requires_grad_(False))


# pyiqa 0.1.16 CLIPIQA's prompt pairs (good, bad), averaged over the pairs.
PROMPTS = [
    "Good image",
    "bad image",
    "Sharp image",
    "blurry image",
    "sharp edges",
    "blurry edges",
    "High resolution image",
    "low resolution image",
    "Noise-free image",
    "noisy image",
]


def _build_niqe(paths: list[Path]) -> nn.Module:
    """pyiqa's NIQE with the pristine model checked first: a bad ``.mat`` is one line, not a scipy traceback."""
    _check_niqe_mat(paths[0])
    return pyiqa_arch("niqe").NIQE(test_y_channel=True, pretrained_model_path=str(paths[0]))


def _check_niqe_mat(path: Path) -> None:
    """BadWeightsError unless ``path`` is a MATLAB file with a 36-d ``mu_prisparam`` and 36x36 ``cov_prisparam``."""
    import numpy as np
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises ValueError, TypeError, MatReadError... for foreign bytes
        raise BadWeightsError(f"{path} cannot be read as a MATLAB .mat file ({first_line(exc)})") from None
    mu, cov = mat.get("mu_prisparam"), mat.get("cov_prisparam")
    if not (
        isinstance(mu, np.ndarray) and mu.size == 36 and isinstance(cov, np.ndarray) and cov.shape == (36, 36)
    ):
        raise BadWeightsError(f"{path} holds no NIQE pristine model (36-d mu_prisparam, 36x36 cov_prisparam)")
    if not (np.issubdtype(mu.dtype, np.number) and np.issubdtype(cov.dtype, np.number)):
        raise BadWeightsError(f"{path}: mu_prisparam/cov_prisparam are not numbers")


_BUILDERS = {"dists": _build_dists, "musiq": _build_musiq, "clipiqa": _build_clipiqa, "niqe": _build_niqe}


class IQAMetric(nn.Module):
    """One pyiqa metric on frames: ``metric(sr)`` (no-reference) or ``metric(sr, gt)`` (DISTS).

    Frames: numpy uint8 (H, W, 3) or (N, H, W, 3), or float tensors (N, 3, H, W) in [0, 1].
    Returns one score per frame, shape (N,).
    """

    def __init__(self, name: str, device: str | torch.device = "cpu"):
        super().__init__()
        paths = check_weights(name)
        self.name, self.full_reference = name, IQA_METRICS[name]
        self.net = _BUILDERS[name](paths).eval().requires_grad_(False)
        self.device = torch.device(device)
        self.net.to(self.device)

    @torch.no_grad()
    def forward(self, sr, gt=None) -> torch.Tensor:
        device = self.device
        x = unit_frames(sr, device)
        if self.name == "niqe" and min(x.shape[-2:]) < NIQE_MIN:
            raise UserError(
                f"niqe needs frames of at least {NIQE_MIN}x{NIQE_MIN} (its {NIQE_MIN}-pixel blocks); "
                f"got {x.shape[-1]}x{x.shape[-2]}"
            )
        if self.full_reference:
            if gt is None:
                raise ValueError(f"{self.name} is a full-reference metric: give the GT frames")
            return self.net(x, unit_frames(gt, device)).flatten().float().cpu()
        return torch.cat([self.net(x[i : i + 1]).flatten() for i in range(len(x))]).float().cpu()

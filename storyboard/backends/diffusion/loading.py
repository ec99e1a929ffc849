"""Loading a diffusion model, whatever its family: device, dtype, the hub or a folder, schedulers.

A model is a diffusers repository of components (``unet/``, ``vae/``, ...), each
loaded with ``from_pretrained`` by its family (:mod:`storyboard.backends.diffusion.families`).
This module finds the source: a local folder (checked for the components first), or
a hub id, from the user's Hugging Face cache first and the hub only when
``HF_HUB_OFFLINE`` allows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from storyboard.backends.hub import hub_cache_dir
from storyboard.backends.model_checks import missing_message
from storyboard.backends.sources import locate_model
from storyboard.errors import UsageError
from storyboard.hub import hub_offline, hub_unreachable, looks_local

T = TypeVar("T")


class ModelUnavailable(UsageError):
    """The weights cannot be found; the message says what is missing and how to get it."""


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` if available, else ``mps``, else ``cpu``; others are checked."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("model.device is cuda, but torch sees no CUDA device (is the CUDA build of torch installed?)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("model.device is mps, but this machine has no MPS device")
    return name


def resolve_dtype(name: str, device: str):
    """``auto``: bf16 on CUDA, fp16 on MPS, fp32 on CPU."""
    import torch

    if name == "auto":
        name = {"cuda": "bf16", "mps": "fp16"}.get(device, "fp32")
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def load_from(model_id: str, revision: str | None, components: Sequence[str],
              load: Callable[[str, dict[str, Any]], T]) -> T:
    """Call ``load(source, from_pretrained_kwargs)`` on a folder or a hub id.

    A folder is checked for ``components`` before anything heavy loads; a hub id is
    loaded from the cache first (no network), then from the hub unless offline.
    ``load`` raises :class:`ModelUnavailable` for weights it cannot find.
    """
    local = Path(model_id).expanduser()
    quiet_libraries()
    if looks_local(model_id):
        if not local.is_dir():
            raise ModelUnavailable(f"model folder '{model_id}' does not exist")
        missing = [c for c in components if not (local / c).is_dir()]
        if missing:
            raise ModelUnavailable(f"model folder '{model_id}' lacks {', '.join(m + '/' for m in missing)}; "
                                   f"expected a diffusers text-to-video layout ({', '.join(components)})")
        return load(str(local), {})
    kwargs: dict[str, Any] = {"revision": revision} if revision else {}
    # The cache first, so cached weights load with no network; the hub only if allowed.
    try:
        return load(model_id, {**kwargs, "local_files_only": True})
    except ModelUnavailable:
        if hub_offline():
            raise
    unreachable = hub_unreachable()
    if unreachable:  # fail in seconds, not after minutes of retries
        raise ModelUnavailable(missing_message(model_id, f"it is not in the local cache, and the hub cannot be "
                                               f"reached ({unreachable})", components))
    return load(model_id, kwargs)


def check_available(model_id: str, revision: str | None = None) -> None:
    """Raise :class:`ModelUnavailable` at once, before torch is imported, when ``model_id`` is a
    hub id that is not in the Hugging Face cache and cannot be downloaded (``HF_HUB_OFFLINE`` is
    set, or the hub does not answer within 3 s); built-in models, folders and cached ids pass
    (loading checks a folder's components)."""
    if locate_model(model_id, revision).kind != "hub":
        return
    if hub_offline():
        raise ModelUnavailable(missing_message(model_id, f"it is not in the Hugging Face cache ({hub_cache_dir()})"))
    unreachable = hub_unreachable()
    if unreachable:
        raise ModelUnavailable(missing_message(model_id, f"it is not in the local cache, and the hub cannot be "
                                               f"reached ({unreachable})"))


def quiet_libraries() -> None:
    """Silence diffusers' and transformers' progress bars and advice; storyboard reports progress.

    And one warning that is not the user's to act on: diffusers' ``ConfigMixin.load_config``
    passes ``local_dir_use_symlinks`` to ``hf_hub_download``, which huggingface_hub 1.x deprecated
    and ignores, so every model loaded by hub id printed a ``UserWarning`` about it.
    """
    import warnings

    import diffusers
    import transformers

    warnings.filterwarnings("ignore", message=r"The `local_dir_use_symlinks` argument is deprecated",
                            category=UserWarning, module=r"huggingface_hub\.utils\._validators")

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def make_scheduler(name: str, config: dict[str, Any]):
    """A fresh DDIM or DPM-Solver++ (2M) scheduler from a model's scheduler config."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    if name == "ddim":
        return DDIMScheduler.from_config(config)
    if name == "dpm++":
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2)
    raise ValueError(f"unknown scheduler {name!r}")

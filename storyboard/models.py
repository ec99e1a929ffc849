"""Loading text-to-video diffusion components: from the hub, a local folder, or built tiny.

A model is the five components of a diffusers text-to-video repository
(``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``), loaded
each with ``from_pretrained``. The user's Hugging Face cache and ``HF_HUB_OFFLINE``
are honoured by huggingface_hub itself. ``tiny-random`` builds random tiny
components in-process: a smoke-test model whose output is noise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.errors import UsageError

TINY = "tiny-random"
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


class ModelUnavailable(UsageError):
    """The weights cannot be found; the message says what is missing and how to get it."""


@dataclass
class Components:
    tokenizer: Any
    text_encoder: Any
    unet: Any
    vae: Any
    scheduler_config: dict[str, Any]
    model_id: str

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell along each axis (8 for ModelScope and zeroscope)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)


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


def _missing_message(model_id: str, detail: str) -> str:
    offline = hub_offline()
    how = (
        f"download it on a connected machine with `huggingface-cli download {model_id}` (it lands in the Hugging Face "
        f"cache, ~/.cache/huggingface, or HF_HOME), or point model.id at a local folder holding {', '.join(COMPONENTS)}/"
    )
    state = "HF_HUB_OFFLINE is set, so only the local cache is searched; " if offline else ""
    return f"model '{model_id}' is not available: {detail}. {state}{how}. To check a script without weights use --model preview."


def load_components(model_id: str, *, revision: str | None = None, dtype: Any = None) -> Components:
    """Load a model's components (on the CPU, in ``dtype``) from a hub id or a folder.

    Raises :class:`ModelUnavailable` before loading anything heavy when a folder lacks
    components, and when the hub cannot provide them.
    """
    if model_id == TINY:
        return tiny_components(dtype=dtype)
    local = Path(model_id).expanduser()
    looks_local = local.exists() or model_id.startswith((".", "/", "~")) or model_id.count("/") > 1
    if looks_local:
        if not local.is_dir():
            raise ModelUnavailable(f"model folder '{model_id}' does not exist")
        missing = [c for c in COMPONENTS if not (local / c).is_dir()]
        if missing:
            raise ModelUnavailable(f"model folder '{model_id}' lacks {', '.join(m + '/' for m in missing)}; "
                                   f"expected a diffusers text-to-video layout ({', '.join(COMPONENTS)})")
        source = str(local)
    else:
        source = model_id

    quiet_libraries()
    kwargs: dict[str, Any] = {"revision": revision} if revision and not looks_local else {}
    if looks_local:
        return _load(source, model_id, kwargs, dtype)
    # The cache first, so cached weights load with no network; the hub only if allowed.
    try:
        return _load(source, model_id, {**kwargs, "local_files_only": True}, dtype)
    except ModelUnavailable:
        if hub_offline():
            raise
    return _load(source, model_id, kwargs, dtype)


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set (read now, not when huggingface_hub was imported)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def quiet_libraries() -> None:
    """Silence diffusers' and transformers' progress bars and advice; storyboard reports progress."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _load(source: str, model_id: str, kwargs: dict[str, Any], dtype: Any) -> Components:
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    try:
        tokenizer = CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", **kwargs)
        scheduler_config = _scheduler_config(source, kwargs)
        text_encoder = CLIPTextModel.from_pretrained(source, subfolder="text_encoder", torch_dtype=dtype, **kwargs)
        unet = UNet3DConditionModel.from_pretrained(source, subfolder="unet", torch_dtype=dtype, low_cpu_mem_usage=False, **kwargs)
        vae = AutoencoderKL.from_pretrained(source, subfolder="vae", torch_dtype=dtype, low_cpu_mem_usage=False, **kwargs)
    except (OSError, ValueError) as exc:  # huggingface_hub raises OSError subclasses for missing files
        text = str(exc).strip()
        first_line = text.splitlines()[0].rstrip(".") if text else type(exc).__name__
        raise ModelUnavailable(_missing_message(model_id, first_line)) from None
    for module in (text_encoder, unet, vae):
        module.eval().requires_grad_(False)
    return Components(tokenizer, text_encoder, unet, vae, scheduler_config, model_id)


def _scheduler_config(source: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    from diffusers import DDIMScheduler

    return dict(DDIMScheduler.load_config(source, subfolder="scheduler", **kwargs))


def make_scheduler(name: str, config: dict[str, Any]):
    """A fresh DDIM or DPM-Solver++ (2M) scheduler from a model's scheduler config."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    if name == "ddim":
        return DDIMScheduler.from_config(config)
    if name == "dpm++":
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2)
    raise ValueError(f"unknown scheduler {name!r}")


# --- the tiny offline model ---------------------------------------------------------------


def byte_vocab() -> dict[str, int]:
    """A CLIP vocabulary of the 256 byte characters (word-internal and word-final) plus start/end."""
    keep = set(range(33, 127)) | set(range(161, 173)) | set(range(174, 256))
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = 512
    vocab["<|endoftext|>"] = 513
    return vocab


TINY_UNET = dict(
    block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=32, cross_attention_dim=32,
    attention_head_dim=8, down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
    up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), in_channels=4, out_channels=4, sample_size=8,
)
TINY_VAE = dict(  # few channels at full resolution: decoding is most of a tiny render's time
    block_out_channels=(8, 16, 32, 32), layers_per_block=1, norm_num_groups=8, latent_channels=4,
    in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64, scaling_factor=0.18215,
)
TINY_TEXT = dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2,
                 vocab_size=514, max_position_embeddings=77, bos_token_id=512, eos_token_id=513, pad_token_id=513)
SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                 clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon")


def tiny_components(dtype: Any = None, seed: int = 0) -> Components:
    """Random tiny components with ModelScope's structure: runs on a CPU in seconds; output is noise."""
    import torch
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    quiet_libraries()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet3DConditionModel(**TINY_UNET)
        vae = AutoencoderKL(**TINY_VAE)
        text_encoder = CLIPTextModel(CLIPTextConfig(**TINY_TEXT))
    tokenizer = CLIPTokenizer(vocab=byte_vocab(), merges=[], model_max_length=77)
    if dtype is not None:
        unet, vae, text_encoder = unet.to(dtype), vae.to(dtype), text_encoder.to(dtype)
    for module in (text_encoder, unet, vae):
        module.eval().requires_grad_(False)
    return Components(tokenizer, text_encoder, unet, vae, dict(SCHEDULER), TINY)


def save_components(components: Components, folder: str | Path) -> Path:
    """Write components in the diffusers text-to-video layout (loadable by :func:`load_components`)."""
    import json

    from diffusers import DDIMScheduler

    folder = Path(folder)
    components.unet.save_pretrained(folder / "unet")
    components.vae.save_pretrained(folder / "vae")
    components.text_encoder.save_pretrained(folder / "text_encoder")
    components.tokenizer.save_pretrained(folder / "tokenizer")
    DDIMScheduler.from_config(components.scheduler_config).save_pretrained(folder / "scheduler")
    index = {"_class_name": "TextToVideoSDPipeline", "_diffusers_version": "0.42.0",
             "unet": ["diffusers", "UNet3DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
             "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
             "scheduler": ["diffusers", "DDIMScheduler"]}
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder

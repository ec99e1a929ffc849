"""Visual prompts written by a local text-generation model (``storyboard draft --llm MODEL``).

The model is a Hugging Face causal language model: a local folder, or a hub id found in the
local cache first (``local_files_only=True``). Only when it is not cached, and neither
``HF_HUB_OFFLINE`` nor ``TRANSFORMERS_OFFLINE`` is set, is the hub asked, after a 3-second check
that it can be reached at all, so an offline machine gets a clear message in seconds rather than
a long wait for retries.

Each scene's text (cut to fit the model's context) goes into a short instruction, through the
tokenizer's chat template when it has one; greedy decoding writes at most
:data:`MAX_NEW_TOKENS` tokens, and the first line of the answer, cleaned by
:func:`~storyboard.draft.prompts.clean_prompt`, is the prompt. An answer with nothing left after
cleaning falls back to the extractive prompt (the caller is told how many did).

transformers and torch are imported inside the functions: drafting without ``--llm`` needs neither.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from storyboard.draft.prompts import clean_prompt
from storyboard.errors import UsageError
from storyboard.backends.hub import looks_local
from storyboard.hub import hub_offline, hub_unreachable

MAX_NEW_TOKENS = 48
MAX_PASSAGE_WORDS = 400
INSTRUCTION = ("Write a prompt for an illustration of the passage below: a short comma-separated list of what the "
               "picture shows (subject, setting, light). One line, no sentences, no quotes.")


def _from_pretrained(name: str, local_only: bool) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_only)
    model = AutoModelForCausalLM.from_pretrained(name, local_files_only=local_only)
    return tokenizer, model


def load_model(name: str) -> tuple[Any, Any]:
    """(tokenizer, model) for ``--llm name``, or :class:`UsageError` saying why not and what to do."""
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None:
        raise UsageError(f"--llm {name}: needs transformers and torch (pip install 'storyboard[diffusion]')")
    folder = Path(name).expanduser()
    if looks_local(name):  # a folder, as the model loader tells them from hub ids
        if not folder.is_dir():
            raise UsageError(f"--llm {name}: no such model folder")
        try:
            return _from_pretrained(str(folder), local_only=True)
        except Exception as exc:  # noqa: BLE001 - any loading failure is the user's folder's
            raise UsageError(f"--llm {name}: cannot load a text-generation model from this folder "
                             f"({type(exc).__name__}: {exc})") from None
    try:
        return _from_pretrained(name, local_only=True)
    except OSError:
        pass  # not cached
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"--llm {name}: cannot load it from the local cache ({type(exc).__name__}: {exc})") from None
    if hub_offline():
        raise UsageError(f"--llm {name}: not in the local Hugging Face cache, and HF_HUB_OFFLINE is set; download it "
                         f"first (hf download {name}) or pass a model folder")
    if unreachable := hub_unreachable():
        raise UsageError(f"--llm {name}: not in the local Hugging Face cache, and the hub cannot be reached "
                         f"({unreachable}); download it first or pass a model folder")
    try:
        return _from_pretrained(name, local_only=False)
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"--llm {name}: cannot load it from the hub ({type(exc).__name__}: {exc})") from None


def _context(model: Any, tokenizer: Any) -> int:
    """Tokens the model reads at most (its position limit, else the tokenizer's, else 2048)."""
    for value in (getattr(model.config, "max_position_embeddings", None), getattr(model.config, "n_positions", None),
                  getattr(tokenizer, "model_max_length", None)):
        if isinstance(value, int) and 0 < value < 1_000_000:
            return value
    return 2048


def _request(tokenizer: Any, heading: str, passage: str) -> str:
    body = f"{INSTRUCTION}\n\n" + (f"Heading: {heading}\n" if heading else "") + f"Passage: {passage}"
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": body}], tokenize=False,
                                             add_generation_prompt=True)
    return body + "\n\nPrompt:"


def _inputs(tokenizer: Any, heading: str, text: str, budget: int) -> dict[str, Any]:
    """The encoded request, its passage cut so that the whole fits in ``budget`` tokens."""
    passage = " ".join(text.split()[:MAX_PASSAGE_WORDS])
    overhead = len(tokenizer(_request(tokenizer, heading, ""), add_special_tokens=False)["input_ids"])
    ids = tokenizer(passage, add_special_tokens=False)["input_ids"][: max(1, budget - overhead)]
    passage = tokenizer.decode(ids, skip_special_tokens=True)
    encoded = tokenizer(_request(tokenizer, heading, passage), return_tensors="pt", add_special_tokens=False)
    return {key: value[:, -budget:] for key, value in encoded.items() if key in ("input_ids", "attention_mask")}


def answer_to_prompt(answer: str) -> str:
    """The first non-empty line of the model's answer, without a ``Prompt:`` label, cleaned to one prompt line."""
    for line in answer.strip().splitlines():
        line = line.strip()
        if line.lower().startswith(("prompt:", "image:", "illustration:")):
            line = line.split(":", 1)[1]
        if cleaned := clean_prompt(line):
            return cleaned
    return ""


def llm_prompts(name: str, texts: list[str], headings: list[str], fallbacks: list[str]) -> tuple[list[str], int]:
    """A prompt for each text written by the model ``name``; and how many fell back to ``fallbacks``."""
    import torch

    tokenizer, model = load_model(name)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).eval()
    budget = max(8, _context(model, tokenizer) - MAX_NEW_TOKENS)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prompts, fell_back = [], 0
    for text, heading, fallback in zip(texts, headings, fallbacks):
        inputs = {k: v.to(device) for k, v in _inputs(tokenizer, heading, text, budget).items()}
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, no_repeat_ngram_size=3,
                                 pad_token_id=pad if pad is not None else 0)
        prompt = answer_to_prompt(tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))
        if not prompt:
            prompt, fell_back = fallback, fell_back + 1
        prompts.append(prompt)
    return prompts, fell_back

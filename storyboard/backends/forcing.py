"""Diffusion forcing's arithmetic, torch-free: a shot's chunks, their history and the schedule of
per-frame noise levels (SkyReels-V2). ``plan`` and ``render --dry-run`` read it to say what a
rollout costs; the ``skyreels`` family's rollout samples by it.

All counts are latent frames; a *call* is one denoiser evaluation of a chunk (doubled by guidance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from storyboard.errors import UsageError
from storyboard.plan.windows import windows_for


@dataclass(frozen=True)
class Forcing:
    """How diffusion forcing staggers a chunk's noise levels.

    - ``ar_step``: steps a causal block lags the block before it (0: synchronous, all new frames
      at one level; SkyReels suggests 5 with ``causal_block_size`` 5 for asynchronous sampling,
      which takes more denoiser calls);
    - ``causal_block_size``: latent frames a block holds, each block attending only to itself and
      earlier ones (None: the transformer's ``num_frame_per_block``, 1 for the published models);
    - ``addnoise_condition``: the history's noise, on the 0-1000 timestep scale: history frames
      are fed as ``(1 - a/1000) x + (a/1000) n`` with fresh noise ``n`` at every call, at timestep
      ``a`` (0: clean history, as the stock default; 20 recommended for long videos, at most 50).
    """

    ar_step: int = 0
    causal_block_size: int | None = None
    addnoise_condition: float = 20.0

    def __post_init__(self) -> None:
        if self.ar_step < 0:
            raise UsageError(f"ar_step must be 0 (synchronous) or more, not {self.ar_step}")
        if self.causal_block_size is not None and self.causal_block_size < 1:
            raise UsageError(f"causal_block_size must be at least 1 latent frame, not {self.causal_block_size}")
        if not 0 <= self.addnoise_condition < 1000:
            raise UsageError(f"addnoise_condition must be within [0, 1000), not {self.addnoise_condition}")



# --- diffusion forcing: chunks and the schedule of noise levels ---------------------------


@dataclass(frozen=True)
class Chunk:
    """One chunk of a shot's rollout, in latent frames: the model sees ``[start, end)``, of which
    the first ``history`` are already made (held clean, not updated) and the rest are new."""

    start: int
    end: int
    history: int

    @property
    def new(self) -> int:
        return self.end - self.start - self.history


def chunks_for(windows: Sequence[tuple[int, int]], block: int = 1) -> tuple[Chunk, ...]:
    """The rollout's chunks over the shot's windows (latent frames ``[start, end)``, in order, each
    overlapping or touching the one before): a chunk carries as history what earlier chunks made of
    its window. With ``block`` 1 the chunks are the windows; with causal blocks of ``block`` latent
    frames, the windows are first laid again in whole blocks (:func:`block_windows`)."""
    if block > 1:
        windows = block_windows(windows, block)
    out: list[Chunk] = []
    made = 0
    for start, end in windows:
        if end <= made:
            continue
        if start > made:
            raise ValueError(f"window ({start}, {end}) leaves latent frames {made} to {start} unmade")
        out.append(Chunk(start, end, made - start))
        made = end
    return tuple(out)


def block_windows(windows: Sequence[tuple[int, int]], block: int) -> tuple[tuple[int, int], ...]:
    """The shot's windows laid in whole causal blocks of ``block`` latent frames: the first window's
    size rounded down to whole blocks (at least one; a shot within one window is one chunk), the overlap
    (the first two windows') rounded up (below the size), the shot's end rounded up (the rollout pads the
    extra frames with noise and drops them), the last window aligned to that end as storyboard's windows
    are. The block-causal self-attention needs whole blocks, and the history must be whole blocks to be
    held clean."""
    end = -(-windows[-1][1] // block) * block
    if len(windows) == 1:  # a shot within one window: one chunk
        return ((0, end),)
    size = max(block, (windows[0][1] - windows[0][0]) // block * block)
    overlap = windows[0][1] - windows[1][0] if len(windows) > 1 else 0
    overlap = min(-(-overlap // block) * block, size - block)
    return windows_for(0, end, size, overlap)


@dataclass(frozen=True)
class Row:
    """One denoiser call of a chunk: each latent frame's noise level (0: not started, fed as pure
    noise; ``k`` in 1..steps: fed at the schedule's ``k``-th timestep; ``steps + 1``: clean, fed at
    timestep 0) and whether the scheduler steps it after this call."""

    levels: tuple[int, ...]
    update: tuple[bool, ...]


def forcing_rows(frames: int, steps: int, *, history: int = 0, ar_step: int = 0, block: int = 1) -> list[Row]:
    """The diffusion-forcing schedule of one chunk of ``frames`` latent frames, the first ``history``
    clean (SkyReels-V2's ``generate_timestep_matrix``, with the interval always the whole chunk).

    Each call raises the first unfinished block by one level; a later block follows the block before
    it ``ar_step`` levels behind, or, once that block has finished, rises on its own. Levels never
    decrease along the chunk. Synchronous (``ar_step`` 0): ``steps`` calls, all new frames at one
    level; asynchronous: ``steps + ar_step * (new blocks - 1)`` calls.
    """
    if frames % block or history % block:
        raise ValueError(f"a chunk of {frames} latent frames with {history} of history is not whole blocks of {block}")
    clean = steps + 1
    blocks, ready = frames // block, history // block
    before = [clean] * ready + [0] * (blocks - ready)
    rows = []
    while min(before) < steps:
        levels: list[int] = []
        for i in range(blocks):
            rises = i == 0 or before[i - 1] >= steps
            levels.append(min(clean, max(0, before[i] + 1 if rises else levels[i - 1] - ar_step)))
        update = [now != was and now != clean for now, was in zip(levels, before)]
        rows.append(Row(tuple(v for v in levels for _ in range(block)), tuple(u for u in update for _ in range(block))))
        before = levels
    return rows


def rollout_calls(windows: Sequence[tuple[int, int]], steps: int, forcing: Forcing = Forcing(),
                  block: int = 1) -> list[tuple[Chunk, int]]:
    """Each chunk of a shot and the denoiser calls (rows, before guidance's doubling) it takes."""
    return [(chunk, len(forcing_rows(chunk.end - chunk.start, steps, history=chunk.history,
                                     ar_step=forcing.ar_step, block=block)))
            for chunk in chunks_for(windows, block)]


def describe_chunks(windows: Sequence[tuple[int, int]], steps: int, forcing: Forcing = Forcing(),
                    block: int = 1) -> str:
    """One line for ``plan`` and ``--dry-run`` on a shot's rollout: its chunks and their history, in latent
    frames, and the denoiser calls it takes (each doubled by guidance), e.g. ``11 chunks of 25 latent
    frames, each after the first with 4 of history (the last 9); 330 denoiser calls at 30 steps``."""
    plan = rollout_calls(windows, steps, forcing, block)
    chunks = [chunk for chunk, _ in plan]
    sizes = sorted({chunk.end - chunk.start for chunk in chunks})
    size = str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]} to {sizes[-1]}"
    line = f"{len(chunks)} chunk{'s' if len(chunks) > 1 else ''} of {size} latent frames"
    histories = [chunk.history for chunk in chunks[1:]]
    if histories:
        line += f", each after the first with {histories[0]} of history"
        if len(histories) > 1 and histories[-1] != histories[0]:
            line += f" (the last {histories[-1]})"
    line += f"; {sum(calls for _, calls in plan)} denoiser calls at {steps} steps"
    if forcing.ar_step:
        line += f" (asynchronous: ar_step {forcing.ar_step}, blocks of {block})"
    return line

"""Render: plan -> segments (cached by content, resumable) -> pieces -> MP4 (+ subtitles).

:func:`storyboard.render.orchestrate.render_plan` asks a backend for each missing shot, caches it
as a segment, and assembles the MP4 from pieces with the music mix. Nothing here knows of
diffusion: backends are opened by name through :mod:`storyboard.backends`.
:mod:`storyboard.render.outputs` (where a render writes, and what it may not replace) imports no
numpy, so ``validate`` can check outputs without loading the encoder's stack.
"""

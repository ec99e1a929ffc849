"""``storyboard studio``: write a script, see its plan and beats, preview and render it, in the browser.

Around the pipeline, not inside it: the studio calls the stages (load, plan, plot) to check
what the editor holds, and runs renders as the command line does, as child processes. Its
modules, by what they hold:

- :mod:`~storyboard.studio.folder`: the folder it was started in; paths that leave it are refused;
- :mod:`~storyboard.studio.checks`: editor text -> ``validate``'s errors, and the plan;
- :mod:`~storyboard.studio.plot`: the plan's picture (with the narration);
- :mod:`~storyboard.studio.children`: renders as child processes, and their progress;
- :mod:`~storyboard.studio.previews`: the preview of the editor's text;
- :mod:`~storyboard.studio.jobs`: the render queue, one at a time, resumable after a restart;
- :mod:`~storyboard.studio.caches`: the segment caches, shown and pruned;
- :mod:`~storyboard.studio.actions`: what the page's buttons do, with no Gradio;
- :mod:`~storyboard.studio.views`: the page's HTML; :mod:`~storyboard.studio.app`: the page (Gradio);
- :mod:`~storyboard.studio.server`: starting and stopping it;
- :mod:`~storyboard.studio.guard`: only requests addressed to the studio's own names (``Host``, ``Origin``) reach it.

Gradio (the ``studio`` extra) is imported only when the server starts.
"""

from __future__ import annotations

from pathlib import Path


def studio(script: str | None = None, port: int | None = None, host: str = "127.0.0.1",
           root: str | Path | None = None) -> None:
    """Serve the studio of ``root`` (default: the current folder) on ``host``:``port`` until Ctrl-C."""
    from storyboard.studio.server import serve

    serve(script, host, port, root)

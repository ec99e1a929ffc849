import os
import sys
import tempfile
from pathlib import Path

# No test may touch the network: huggingface_hub reads this when first imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
# Nor may it write the user's caches (music analyses, speech): one of the session's own, which every
# test shares unless it is about the cache (those set STORYBOARD_CACHE to a folder of their own).
# STORYBOARD_TEST_CACHE names a folder to keep it in between runs (its entries check themselves, and
# are keyed by what they are made of); by default each run starts with an empty one.
SESSION_CACHE = Path(os.environ.get("STORYBOARD_TEST_CACHE") or tempfile.mkdtemp(prefix="storyboard-test-cache-"))
SESSION_CACHE.mkdir(parents=True, exist_ok=True)
os.environ["STORYBOARD_CACHE"] = str(SESSION_CACHE)

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_sessionstart(session):
    """Compile storyboard's bytecode, as pip does when it installs a wheel. The tests that bound a
    command's CPU time measure the command as users run it; where PYTHONDONTWRITEBYTECODE is set
    (CI images often set it) nothing would be cached, and every process would compile storyboard
    anew: a third of a second of CPU, enough to fail a bound of half a second."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "storyboard"), quiet=1)


@pytest.fixture(scope="session")
def example_media():
    """The examples' music and pictures, made by the project's synthesiser and its sketcher (as the
    README says)."""
    from storyboard.media.sketch import sketch
    from storyboard.music.synth import synth_track, write_wav

    root = Path(__file__).resolve().parents[1]
    path = root / "examples" / "media" / "pulse-120.wav"
    if not path.exists():
        write_wav(synth_track(120.0, 48.0), path)
    sketch(path.parent)  # only the pictures not there yet
    return path


@pytest.fixture(scope="session")
def tiny():
    """The tiny random model's components (built once per session)."""
    from storyboard.backends.diffusion.families.unet3d import tiny_components

    return tiny_components()


@pytest.fixture
def private_cache(monkeypatch) -> Path:
    """The test session's music and speech cache (not the user's ~/.cache/storyboard), shared by every
    test in the run, so that an analysis or a speech is made once per run whichever test needs it first."""
    monkeypatch.setenv("STORYBOARD_CACHE", str(SESSION_CACHE))
    return SESSION_CACHE


@pytest.fixture(scope="session")
def warm_cache(example_media):
    """``warm_cache(name)`` validates ``examples/<name>.yaml`` once per run, into the session's cache
    (its music analysed, its narration spoken), and returns that cache's folder: a test that needs an
    example's analyses and speech cached reuses them instead of making them again in a cache of its own."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from storyboard.cli import main

    done: set[str] = set()

    def warm(name: str) -> Path:
        if name not in done:
            script = Path(__file__).resolve().parents[1] / "examples" / f"{name}.yaml"
            err = io.StringIO()
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("STORYBOARD_CACHE", str(SESSION_CACHE))
                with redirect_stdout(io.StringIO()), redirect_stderr(err):
                    code = main(["validate", str(script)])
            assert code == 0, err.getvalue()
            done.add(name)
        return SESSION_CACHE

    return warm

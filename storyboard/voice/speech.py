"""Narration to speech: sentence by sentence with piper, cached like segments.

Each sentence is synthesised on its own, so its start and end in the speech are known
exactly (captions follow them), and ``pause`` seconds of silence go between sentences.
The speech of a (text, voice, speed, pause) is made once and kept as a 16-bit mono WAV with
a JSON note of its sentence times; the note holds the WAV's size and checksum, and a speech
whose WAV does not match its note is made again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from storyboard.files import atomic, user_cache
from storyboard.voice.utterances import utterances
from storyboard.voice.voices import VoiceFile

if TYPE_CHECKING:
    import numpy as np

FORMAT = 3  # bump when the cached WAV or note changes (2: phoneme durations without noise; 3: emoji
# dropped and long sentences spoken in pieces, storyboard.voice.utterances)
_SENTENCE = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=\S)")


@dataclass(frozen=True)
class Sentence:
    text: str
    start_s: float  # from the start of the speech
    end_s: float


@dataclass(frozen=True)
class Speech:
    """A narration's audio (mono WAV) and where its sentences fall in it (seconds)."""

    path: Path
    duration_s: float
    sample_rate: int
    sentences: tuple[Sentence, ...]


def split_sentences(text: str) -> list[str]:
    """``text`` as sentences: split after ., !, ? or … that a space follows."""
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]


def speech_cache() -> Path:
    """Where speech is kept: :func:`storyboard.files.user_cache` ``("speech")``."""
    return user_cache("speech")


def speech_key(text: str, voice: VoiceFile, speed: float, pause_s: float) -> str:
    """What a speech is made of: the words, the voice (name, model size, its config's checksum),
    speed and pause."""
    made_of = {"format": FORMAT, "engine": "piper", "voice": voice.name, "model_bytes": voice.model.stat().st_size,
               "config": hashlib.sha256(voice.config.read_bytes()).hexdigest(),
               "text": " ".join(text.split()), "speed": round(speed, 4), "pause": round(pause_s, 4)}
    return hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()[:40]


def speak(text: str, voice: VoiceFile, speed: float = 1.0, pause_s: float = 0.35, cache: Path | None = None, *,
          on_sentence: Callable[[int], None] | None = None, warn: Callable[[str], None] | None = None) -> Speech:
    """The speech of ``text``: from the cache, or synthesised (about 20x faster than real time on one core).

    ``on_sentence(words)`` is called as each sentence is synthesised (nothing when cached). A damaged
    cache entry (a folder where a file should be, a note of the wrong shape, a WAV that does not match
    its note) is spoken again; a cache that cannot be written (read-only, a folder in the way) gets
    the speech in a temporary folder instead. ``warn`` hears of both, with the file's name.
    """
    folder = cache or speech_cache()
    key = speech_key(text, voice, speed, pause_s)
    cached, problem = _cached(folder / f"{key}.wav")
    if cached is not None:
        return cached
    if problem and warn:
        warn(f"warning: the speech cache entry {problem}; speaking it again")
    rate, sentences, audio = synthesise(split_sentences(text), voice, speed, pause_s, on_sentence=on_sentence)
    try:
        return _keep(folder / f"{key}.wav", rate, sentences, audio)
    except OSError as exc:
        spare = _temporary_folder() / f"{key}.wav"
        if warn:
            warn(f"warning: cannot keep speech in the cache: {_why(exc, folder / f'{key}.wav')}; it is kept in "
                 f"{spare.parent} until this run ends, and spoken again next time")
        return _keep(spare, rate, sentences, audio)


def cached_speech(text: str, voice: VoiceFile, speed: float = 1.0, pause_s: float = 0.35,
                  cache: Path | None = None) -> Speech | None:
    """The speech of ``text`` if the cache holds it intact, without synthesising anything."""
    return _cached((cache or speech_cache()) / f"{speech_key(text, voice, speed, pause_s)}.wav")[0]


def _keep(wav_path: Path, rate: int, sentences: list[Sentence], audio: np.ndarray) -> Speech:
    """Write the speech as a 16-bit mono WAV with its JSON note beside it (atomically), and return it."""
    import numpy as np

    wav_path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2").tobytes()
    with atomic(wav_path, ".wav") as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm)
    speech = Speech(wav_path, len(audio) / rate, rate, tuple(sentences))
    note = {"duration_s": speech.duration_s, "sample_rate": rate, "bytes": wav_path.stat().st_size,
            "sha256": hashlib.sha256(wav_path.read_bytes()).hexdigest(),
            "sentences": [[s.text, s.start_s, s.end_s] for s in sentences]}
    with atomic(wav_path.with_suffix(".json"), ".json") as tmp:
        tmp.write_text(json.dumps(note), encoding="utf-8")
    return speech


def _why(exc: OSError, wav_path: Path) -> str:
    """What stopped a cache write, naming the file."""
    for path in (wav_path, wav_path.with_suffix(".json")):
        if path.is_dir():
            return f"{path} is a folder, where a speech file should be"
    return f"{exc.filename or wav_path.parent}: {exc.strerror or exc}"


@functools.lru_cache(maxsize=1)
def _temporary_folder() -> Path:
    """A folder of this process's own for speech the cache could not keep; removed when the process ends."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="storyboard-speech-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def synthesise(sentences: list[str], voice: VoiceFile, speed: float, pause_s: float,
               engine: Callable[[str], np.ndarray] | None = None,
               on_sentence: Callable[[int], None] | None = None) -> tuple[int, list[Sentence], np.ndarray]:
    """Speak each sentence, with ``pause_s`` of silence between them: (sample rate, the sentences'
    times in seconds, float32 mono samples in [-1, 1]).

    The engine is given each sentence as :func:`storyboard.voice.utterances.utterances`: emoji and
    pictographs dropped, giant words split, at most 400 characters at a time (its memory grows with
    the square of that). A sentence with nothing to say lasts no time. ``on_sentence(words)`` is
    called after each sentence."""
    import numpy as np

    rate = voice.sample_rate
    say = engine or _piper(voice, speed)
    gap = np.zeros(int(round(pause_s * rate)), np.float32)
    parts: list[np.ndarray] = []
    timed, at = [], 0
    for k, sentence in enumerate(sentences):
        if k:
            parts.append(gap)
            at += len(gap)
        said = [np.asarray(say(u), np.float32).reshape(-1) for u in utterances(sentence)]
        samples = np.concatenate(said) if said else np.zeros(0, np.float32)
        timed.append(Sentence(sentence, at / rate, (at + len(samples)) / rate))
        parts.append(samples)
        at += len(samples)
        if on_sentence:
            on_sentence(len(sentence.split()))
    return rate, timed, np.concatenate(parts) if parts else np.zeros(0, np.float32)


@functools.lru_cache(maxsize=4)
def _load(model: Path, config: Path):  # noqa: ANN202 (piper's PiperVoice)
    """A piper voice, loaded once a process (about a second)."""
    from piper import PiperVoice

    return PiperVoice.load(model, config)


def _piper(voice: VoiceFile, speed: float) -> Callable[[str], np.ndarray]:
    """A function speaking one sentence with piper."""
    import numpy as np

    from piper import SynthesisConfig

    model = _load(voice.model, voice.config)
    # No noise on the phonemes' durations (piper's noise_w): the same words then last exactly as long on
    # every run and machine, so a plan does not change (and its segments re-render) when the speech cache
    # is cleared or the script moves. The voice's own noise_scale still varies the timbre, not the timing.
    config = SynthesisConfig(length_scale=1.0 / speed, noise_w_scale=0.0)

    def say(sentence: str) -> np.ndarray:
        chunks = [c.audio_float_array for c in model.synthesize(sentence, config)]
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)

    return say


def _cached(wav_path: Path) -> tuple[Speech | None, str | None]:
    """The cached speech, if its WAV and note are there and agree (size and checksum); else None and
    what is wrong with the entry, naming its file (None: there is no entry). Anything unreadable, of
    the wrong shape or not matching is an entry to make again, never an error."""
    note_path = wav_path.with_suffix(".json")
    if not note_path.exists() and not wav_path.exists():
        return None, None
    try:
        note = json.loads(note_path.read_text(encoding="utf-8"))
        data = wav_path.read_bytes()
    except IsADirectoryError as exc:
        return None, f"{exc.filename or wav_path} is a folder"
    except FileNotFoundError as exc:
        return None, f"{wav_path.name} lacks {Path(exc.filename or note_path).name}"
    except OSError as exc:
        return None, f"{exc.filename or wav_path} cannot be read ({exc.strerror or exc})"
    except ValueError:
        return None, f"{note_path} is not a speech note (not JSON text)"
    speech = _speech_of(wav_path, note)
    if speech is None:
        return None, f"{note_path} is not a speech note (its fields are missing or of the wrong kind)"
    if len(data) != note["bytes"] or hashlib.sha256(data).hexdigest() != note["sha256"]:
        return None, f"{wav_path} does not match its note (size or checksum)"
    return speech, None


def _speech_of(wav_path: Path, note: object) -> Speech | None:
    """The speech a note describes, or None when the note is not the shape :func:`_keep` writes."""
    def number(x: object) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0

    if not isinstance(note, dict) or not all(k in note for k in ("duration_s", "sample_rate", "bytes", "sha256",
                                                                      "sentences")):
        return None
    rate, sentences = note["sample_rate"], note["sentences"]
    if not (number(note["duration_s"]) and isinstance(rate, int) and rate > 0 and isinstance(note["bytes"], int)
            and isinstance(note["sha256"], str) and isinstance(sentences, list)):
        return None
    if not all(isinstance(s, list) and len(s) == 3 and isinstance(s[0], str) and number(s[1]) and number(s[2])
               for s in sentences):
        return None
    return Speech(wav_path, float(note["duration_s"]), rate, tuple(Sentence(t, float(a), float(b))
                                                                     for t, a, b in sentences))

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
import re
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from storyboard.files import atomic, user_cache
from storyboard.voice.voices import VoiceFile

FORMAT = 2  # bump when the cached WAV or note changes (2: phoneme durations without noise)
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


def speak(text: str, voice: VoiceFile, speed: float = 1.0, pause_s: float = 0.35,
          cache: Path | None = None) -> Speech:
    """The speech of ``text``: from the cache, or synthesised (about 20x faster than real time on one core)."""
    folder = cache or speech_cache()
    key = speech_key(text, voice, speed, pause_s)
    cached = _cached(folder / f"{key}.wav")
    if cached is not None:
        return cached
    rate, sentences, audio = synthesise(split_sentences(text), voice, speed, pause_s)
    folder.mkdir(parents=True, exist_ok=True)
    wav_path = folder / f"{key}.wav"
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


def synthesise(sentences: list[str], voice: VoiceFile, speed: float, pause_s: float,
               engine: Callable[[str], np.ndarray] | None = None) -> tuple[int, list[Sentence], np.ndarray]:
    """Speak each sentence, with ``pause_s`` of silence between them: (sample rate, the sentences'
    times in seconds, float32 mono samples in [-1, 1])."""
    rate = voice.sample_rate
    say = engine or _piper(voice, speed)
    gap = np.zeros(int(round(pause_s * rate)), np.float32)
    parts: list[np.ndarray] = []
    timed, at = [], 0
    for k, sentence in enumerate(sentences):
        if k:
            parts.append(gap)
            at += len(gap)
        samples = say(sentence)
        timed.append(Sentence(sentence, at / rate, (at + len(samples)) / rate))
        parts.append(samples)
        at += len(samples)
    return rate, timed, np.concatenate(parts) if parts else np.zeros(0, np.float32)


@functools.lru_cache(maxsize=4)
def _load(model: Path, config: Path):  # noqa: ANN202 (piper's PiperVoice)
    """A piper voice, loaded once a process (about a second)."""
    from piper import PiperVoice

    return PiperVoice.load(model, config)


def _piper(voice: VoiceFile, speed: float) -> Callable[[str], np.ndarray]:
    """A function speaking one sentence with piper."""
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


def _cached(wav_path: Path) -> Speech | None:
    """The cached speech, if its WAV and note are there and agree (size and checksum)."""
    try:
        note = json.loads(wav_path.with_suffix(".json").read_text(encoding="utf-8"))
        data = wav_path.read_bytes()
    except (OSError, ValueError):
        return None
    if len(data) != note.get("bytes") or hashlib.sha256(data).hexdigest() != note.get("sha256"):
        return None
    sentences = tuple(Sentence(t, float(a), float(b)) for t, a, b in note["sentences"])
    return Speech(wav_path, float(note["duration_s"]), int(note["sample_rate"]), sentences)

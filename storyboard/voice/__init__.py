"""Narration: offline text-to-speech, its voices, and its cache.

Upstream of the plan, like ``music/``: the plan asks :func:`storyboard.voice.speech.speak`
how long each scene's narration lasts and where its sentences fall.
"""

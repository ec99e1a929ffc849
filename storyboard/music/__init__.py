"""Music: analysis with librosa (tempo, beats, onsets; cached by content), beat grids, and a synthesiser.

Times here are seconds in the file's own timeline, except the beat grid, which the
plan places on the video's. librosa is imported only where an analysis runs.
"""

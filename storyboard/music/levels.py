"""How sure a metrical-level choice is (plain numbers: no numpy, cheap for ``validate``).

The beat tracker (:mod:`storyboard.music.beats`) scores each tempo level; the analysis it
leaves in the cache (:class:`storyboard.music.analysis.AudioAnalysis`) keeps the winner's margin
over the runner-up. Both read the same bound here.
"""

CLOSE_CALL = 1 / 3  # a runner-up level scoring over 2/3 of the chosen one's score makes it a close call

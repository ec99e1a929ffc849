"""Views of a plan for people: the timeline as a table (:mod:`~storyboard.views.timeline`) and as a
picture with the music's waveform and beats (:mod:`~storyboard.views.plot`).

Downstream of the plan, beside the command line and the studio that show them; nothing in the
pipeline depends on them.
"""

"""Typography: fonts, line layout and text on frames.

* :mod:`~storyboard.typography.text`: the font chain, directions, line widths, line breaks and
  caption pages, measured with the installed fonts (pixels).
* :mod:`~storyboard.typography.pager`: :class:`~storyboard.typography.pager.CaptionPager`, what the
  pipeline hands the plan to page captions with, and the fonts it measures with.
* :mod:`~storyboard.typography.glyphs`: warnings for characters no installed font draws.
* :mod:`~storyboard.typography.drawing`: text drawn into frames (Pillow): the preview, the plot,
  the burnt-in captions.

The plan never measures fonts itself (it may not read files): it is given a pager.
"""

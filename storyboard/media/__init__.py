"""The media probe: what the plan needs to know of the images and videos a script names.

Like the music's probe and the narration's speech, this runs before the plan is compiled
(:func:`storyboard.pipeline.gather`): each start image, keyframe, subject's reference image and
control video is opened (headers only), measured and hashed, and the plan (which never touches
a file) reads the facts found. See :mod:`storyboard.media.probe` and :mod:`storyboard.media.gather`.
"""

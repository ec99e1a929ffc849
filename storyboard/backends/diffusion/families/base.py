"""The interface every family module implements (see :mod:`storyboard.backends.latents` for time).

A family module (``unet3d``, ``wan``, ``ltx``) drives one diffusers architecture. It
exposes, at module level:

- ``NAME``, ``TINY`` (the offline random model's id, e.g. ``tiny-wan``), ``PIPELINES``
  (the ``_class_name`` values in ``model_index.json`` it drives), ``COMPONENTS`` (the
  subfolders it loads), ``TIMING`` (a :class:`LatentTiming`);
- ``load(source, model_id, kwargs, dtype) -> Components`` (``from_pretrained`` of a hub id
  or folder, ``dtype=``; raises ``ModelUnavailable`` naming what is missing);
- ``tiny_components(dtype=None, seed=0) -> Components`` and ``save_components(c, folder)``
  (written by the stock pipeline's ``save_pretrained``);
- ``encode_prompts(c, texts, device) -> Tensor [P, L, D]``;
- ``latent_channels(c) -> int``, ``spatial_factor(c) -> int`` (pixels per latent cell);
- ``check_size(c, width, height)`` (``UsageError`` saying the multiples);
- ``scheduler(c, name) -> scheduler`` (the family's default when ``name`` is ``"auto"``);
- ``Denoiser(c, table, conds, guidance, dtype)``: ``__call__(x, t, (start, end))`` on
  latent frames, ``conds`` holding one ``FrameCond`` per latent frame;
- ``decode(c, latents, device, dtype) -> Iterator[np.ndarray]``: ``H x W x 3`` uint8
  frames at the native rate, decoded in chunks so memory stays flat in the shot's length.
"""



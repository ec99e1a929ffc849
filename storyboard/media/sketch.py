"""Simple drawn pictures for the examples: two characters and two places, painted with Pillow.

The examples' images are made by the project's own code, never committed photographs (as their
music is made by :mod:`storyboard.music.synth`): ``storyboard sketch examples/media`` writes them.
Each picture is drawn from shapes on a fixed canvas, so the same command always writes the same
pixels. They are for checking timing and placement (the preview shows them), and as start images,
keyframes and references for image-conditioned models, not as art.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

from storyboard.files import atomic

SIZE = (512, 512)  # pixels: characters
WIDE = (768, 432)  # pixels: places (16:9)


def mara(side: bool = False) -> Image.Image:
    """Mara: a girl in a yellow raincoat with a red scarf, facing us (or in profile with ``side``)."""
    image = Image.new("RGB", SIZE, (196, 214, 226))
    d = ImageDraw.Draw(image)
    d.rectangle((0, 400, 512, 512), fill=(120, 128, 140))  # wet pavement
    x = 300 if side else 256
    d.polygon([(x - 90, 420), (x + 90, 420), (x + 55, 215), (x - 55, 215)], fill=(240, 196, 32))  # raincoat
    d.rectangle((x - 60, 200, x + 60, 232), fill=(200, 40, 40))  # scarf
    d.polygon([(x + 40, 228), (x + 70, 300), (x + 48, 304), (x + 24, 232)], fill=(200, 40, 40))  # its tail
    d.ellipse((x - 58, 90, x + 58, 206), fill=(238, 200, 170))  # face
    d.chord((x - 66, 78, x + 66, 190), 180, 360, fill=(240, 196, 32))  # hood
    if side:
        d.ellipse((x + 24, 134, x + 36, 146), fill=(40, 30, 30))
        d.polygon([(x + 56, 150), (x + 70, 160), (x + 55, 166)], fill=(226, 184, 150))  # nose
    else:
        for eye in (x - 24, x + 24):
            d.ellipse((eye - 7, 134, eye + 7, 148), fill=(40, 30, 30))
        d.arc((x - 22, 150, x + 22, 182), 20, 160, fill=(150, 60, 60), width=4)
    for leg in (x - 40, x + 22):
        d.rectangle((leg, 420, leg + 18, 470), fill=(60, 60, 90))
        d.ellipse((leg - 6, 460, leg + 30, 482), fill=(200, 30, 30))  # red boots
    return image


def fox() -> Image.Image:
    """A red fox sitting, with a white-tipped tail."""
    image = Image.new("RGB", SIZE, (214, 226, 196))
    d = ImageDraw.Draw(image)
    d.rectangle((0, 410, 512, 512), fill=(110, 150, 80))  # grass
    d.ellipse((160, 250, 350, 440), fill=(214, 96, 30))  # body
    d.ellipse((300, 340, 470, 430), fill=(214, 96, 30))  # tail
    d.ellipse((420, 360, 480, 420), fill=(248, 248, 240))  # its white tip
    d.ellipse((200, 300, 300, 420), fill=(248, 236, 220))  # chest
    d.polygon([(180, 140), (330, 140), (255, 270)], fill=(214, 96, 30))  # head
    d.polygon([(180, 140), (200, 70), (235, 140)], fill=(214, 96, 30))  # ears
    d.polygon([(275, 140), (310, 70), (330, 140)], fill=(214, 96, 30))
    d.polygon([(235, 230), (275, 230), (255, 270)], fill=(248, 236, 220))  # muzzle
    d.ellipse((248, 258, 262, 272), fill=(30, 20, 20))  # nose
    for eye in (225, 285):
        d.ellipse((eye - 8, 168, eye + 8, 184), fill=(30, 20, 20))
    return image


def harbour() -> Image.Image:
    """A harbour at dawn: pink sky, a low sun, a quay and two boats on the water."""
    image = Image.new("RGB", WIDE, (246, 190, 170))
    d = ImageDraw.Draw(image)
    for k in range(12):  # the sky, paler toward the horizon
        d.rectangle((0, k * 20, 768, k * 20 + 20), fill=(236 + k, 170 + 4 * k, 160 + 3 * k))
    d.ellipse((520, 170, 600, 250), fill=(255, 230, 150))  # the sun
    d.rectangle((0, 240, 768, 432), fill=(70, 110, 150))  # the sea
    for y in range(260, 432, 24):
        d.line((0, y, 768, y), fill=(96, 136, 176), width=2)
    d.rectangle((0, 330, 260, 432), fill=(110, 96, 86))  # the quay
    for x, colour in ((330, (200, 60, 50)), (500, (240, 240, 230))):
        d.polygon([(x, 300), (x + 130, 300), (x + 110, 330), (x + 20, 330)], fill=colour)  # a hull
        d.line((x + 65, 300, x + 65, 220), fill=(60, 50, 40), width=4)  # a mast
        d.polygon([(x + 68, 225), (x + 68, 292), (x + 118, 292)], fill=(250, 250, 245))  # a sail
    return image


def lighthouse() -> Image.Image:
    """A lighthouse on a rock at dusk, its lamp lit, the sea dark blue."""
    image = Image.new("RGB", WIDE, (60, 70, 120))
    d = ImageDraw.Draw(image)
    d.rectangle((0, 300, 768, 432), fill=(30, 50, 90))  # the sea
    d.polygon([(200, 432), (300, 300), (480, 310), (560, 432)], fill=(70, 64, 60))  # the rock
    d.polygon([(350, 310), (430, 310), (415, 110), (365, 110)], fill=(240, 240, 236))  # the tower
    for y in (150, 200, 250):
        d.polygon([(360 - (y - 110) // 20, y), (420 + (y - 110) // 20, y), (421 + (y - 110) // 20, y + 22),
                   (359 - (y - 110) // 20, y + 22)], fill=(200, 40, 40))  # red bands
    d.rectangle((362, 80, 418, 110), fill=(255, 236, 140))  # the lamp
    d.polygon([(418, 86), (768, 20), (768, 120), (418, 104)], fill=(120, 120, 150))  # its beam
    d.polygon([(356, 80), (390, 50), (424, 80)], fill=(40, 40, 40))  # the cap
    return image


PICTURES: dict[str, Callable[[], Image.Image]] = {
    "mara.png": mara,
    "mara-side.png": lambda: mara(side=True),
    "fox.png": fox,
    "harbour.png": harbour,
    "lighthouse.png": lighthouse,
}


def sketch(folder: str | Path, *, force: bool = False) -> list[Path]:
    """Write :data:`PICTURES` into ``folder`` (made if missing), each atomically as a PNG; a picture
    already there is kept unless ``force``. Returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in PICTURES.items():
        path = folder / name
        if path.exists() and not force:
            continue
        with atomic(path) as partial:
            draw().save(partial, format="PNG")
        written.append(path)
    return written

"""A notice written on output pictures (e.g. that the model had random
weights, so the labels mean nothing)."""
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

RANDOM_WEIGHTS_STAMP = 'random weights: plumbing check only'


def draw_stamp(img: 'Image.Image', text: str) -> None:
    """Write ``text`` in white on a red band at the bottom left of ``img``
    (in place; a 24-pixel band, Pillow's default font).

    Args:
        img (PIL.Image.Image): An RGB or RGBA picture.
        text (str): The notice.
    """
    from PIL import ImageDraw, ImageFont
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    tw = draw.textbbox((0, 0), text, font=font)[2]
    h = img.size[1]
    draw.rectangle([0, max(0, h - 24), tw + 16, h - 1], fill='red')
    draw.text((8, max(0, h - 20)), text, fill='white', font=font)

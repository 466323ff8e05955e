"""Draw the bundled demo input: a procedural aerial-like scene (no real data).

    python tools/demo/make_demo_image.py demo/aerial_demo.png

Deterministic (seeded): roads with lane marks, buildings with shaded roofs and
shadows, trees, grass, a pond and cars, seen from above.
"""
import argparse

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def draw_scene(size: int = 512, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    # grass: green with low-frequency mottling
    base = np.zeros((size, size, 3), np.float32)
    base[:] = (92, 128, 62)
    noise = rng.normal(0, 1, (size // 16, size // 16, 1)).astype(np.float32)
    noise = np.array(Image.fromarray(((noise[..., 0] + 3) * 40).clip(0, 255)
                                     .astype(np.uint8)).resize(
                                         (size, size), Image.BICUBIC),
                     np.float32)[..., None] / 40 - 3
    base += noise * 10 + rng.normal(0, 6, base.shape)
    img = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    # pond
    d.ellipse((330, 330, 480, 450), fill=(46, 84, 120))
    d.ellipse((350, 350, 460, 430), fill=(40, 74, 112))
    # roads: one horizontal, one vertical, with dashed centre lines
    d.rectangle((0, 200, size, 244), fill=(112, 112, 110))
    d.rectangle((150, 0, 194, size), fill=(112, 112, 110))
    for x in range(0, size, 28):
        if not 140 < x < 200:
            d.rectangle((x, 221, x + 14, 223), fill=(230, 230, 220))
    for y in range(0, size, 28):
        if not 190 < y < 250:
            d.rectangle((171, y, 173, y + 14), fill=(230, 230, 220))
    # parking lot
    d.rectangle((210, 260, 310, 330), fill=(120, 120, 118))
    for x in range(214, 310, 14):
        d.line((x, 262, x, 290), fill=(220, 220, 210), width=1)
    # buildings: roof colours, ridge line, shadow to the south-east
    roofs = [(170, 60, 50), (150, 140, 130), (190, 110, 80), (120, 120, 140)]
    blocks = [(20, 20, 120, 90), (30, 110, 130, 180), (220, 30, 320, 110),
              (340, 40, 480, 150), (230, 130, 300, 185), (20, 270, 120, 350),
              (30, 380, 130, 480), (220, 370, 300, 470)]
    for i, (x1, y1, x2, y2) in enumerate(blocks):
        d.rectangle((x1 + 6, y1 + 6, x2 + 6, y2 + 6), fill=(50, 60, 40))
        c = roofs[i % len(roofs)]
        d.rectangle((x1, y1, x2, y2), fill=c)
        cm = tuple(int(v * 0.8) for v in c)
        if (x2 - x1) > (y2 - y1):
            my = (y1 + y2) // 2
            d.rectangle((x1, my, x2, y2), fill=cm)
            d.line((x1, my, x2, my), fill=(60, 40, 30), width=2)
        else:
            mx = (x1 + x2) // 2
            d.rectangle((mx, y1, x2, y2), fill=cm)
            d.line((mx, y1, mx, y2), fill=(60, 40, 30), width=2)
    # trees: dark crowns with highlights
    for _ in range(45):
        cx, cy = rng.integers(0, size, 2)
        if 140 < cx < 205 or 190 < cy < 255:
            continue
        r = int(rng.integers(8, 16))
        d.ellipse((cx - r + 4, cy - r + 4, cx + r + 4, cy + r + 4),
                  fill=(35, 50, 25))
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(48, 88, 38))
        d.ellipse((cx - r // 2, cy - r // 2, cx, cy), fill=(70, 115, 55))
    # cars on roads and in the parking lot
    colours = [(200, 30, 30), (240, 240, 240), (30, 60, 160), (20, 20, 20),
               (220, 200, 40)]
    for i, x in enumerate(range(10, size, 60)):
        if 140 < x < 205:
            continue
        y = 205 if i % 2 else 228
        d.rectangle((x, y, x + 18, y + 9), fill=colours[i % 5])
    for i, y in enumerate(range(20, size, 70)):
        if 190 < y < 250:
            continue
        x = 155 if i % 2 else 178
        d.rectangle((x, y, x + 9, y + 18), fill=colours[(i + 2) % 5])
    for i, x in enumerate(range(216, 300, 28)):
        d.rectangle((x, 266, x + 9, 284), fill=colours[(i + 1) % 5])
    return img.filter(ImageFilter.GaussianBlur(0.6))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('out', nargs='?', default='demo/aerial_demo.png')
    p.add_argument('--size', type=int, default=512)
    args = p.parse_args()
    draw_scene(args.size).save(args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()

"""Make a small synthetic georeferenced scene for the GeoTIFF demo path.

    python tools/demo/make_demo_geotiff.py demo/aerial_demo.png OUT.tif

No real data: the bundled procedural picture (demo/aerial_demo.png) is
mirrored into a 1024 x 768 px scene and stored the way satellite products
often are: 16-bit, 4 bands in the order blue, green, red, near-infrared
(pick RGB with ``--bands 3 2 1``), digital numbers ``500 + 40 * value``,
nodata 0 in a corner triangle, UTM zone 32N (EPSG:32632) at 0.5 m pixels.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def make_scene(image_path: str, out: str, width: int = 1024,
               height: int = 768) -> str:
    import rasterio
    from rasterio.transform import from_origin

    from ovseg_plugins.utils.io import atomic_write
    rgb = np.array(Image.open(image_path).convert('RGB'), np.float32)
    rgb = np.concatenate([rgb, rgb[:, ::-1]], axis=1)
    rgb = np.concatenate([rgb, rgb[::-1]], axis=0)[:height, :width]
    nir = 255 - rgb[..., 0] * 0.5  # vegetation-ish: bright where red is dark
    bands = np.stack([rgb[..., 2], rgb[..., 1], rgb[..., 0], nir])
    dn = (500 + 40 * bands).round().astype(np.uint16)
    yy, xx = np.mgrid[:height, :width]
    dn[:, xx + yy < 160] = 0  # nodata corner
    profile = dict(driver='GTiff', width=width, height=height, count=4,
                   dtype='uint16', crs='EPSG:32632', nodata=0,
                   transform=from_origin(500000.0, 5650000.0, 0.5, 0.5),
                   tiled=True, blockxsize=256, blockysize=256,
                   compress='deflate')

    def write(tmp):
        with rasterio.open(tmp, 'w', **profile) as dst:
            dst.write(dn)
            dst.descriptions = ('blue', 'green', 'red', 'nir')

    atomic_write(out, write, suffix='.tif')
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('image', nargs='?', default='demo/aerial_demo.png')
    p.add_argument('out', nargs='?',
                   default='outputs/demo/synthetic_scene.tif')
    args = p.parse_args(argv)
    print(f'wrote {make_scene(args.image, args.out)} (synthetic, 16-bit '
          'B,G,R,NIR, EPSG:32632)')


if __name__ == '__main__':
    main()

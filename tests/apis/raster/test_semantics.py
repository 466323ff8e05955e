"""The raster-semantics layer: how each kind of raster becomes RGB, decided
before inference, printed and stored; never a silent guess."""
import numpy as np
import pytest

pytest.importorskip('rasterio')

from raster_helpers import write_raster  # noqa: E402


def _write(path, data, colorinterp=None, descriptions=None, tags=None,
           colormap=None, nodata=None, photometric=None):
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.transform import from_origin
    B, H, W = data.shape
    kw = dict(photometric=photometric) if photometric else {}
    with rasterio.open(path, 'w', driver='GTiff', width=W, height=H, count=B,
                       dtype=data.dtype, crs='EPSG:32632', nodata=nodata,
                       transform=from_origin(5e5, 5.65e6, 1, 1), **kw) as d:
        d.write(data)
        if colorinterp:
            d.colorinterp = [getattr(ColorInterp, c) for c in colorinterp]
        if descriptions:
            d.descriptions = descriptions
        if tags:
            d.update_tags(**tags)
        if colormap:
            d.write_colormap(1, colormap)
    return str(path)


def _plan(path, bands=None):
    from ovseg_plugins.apis.raster import open_source, plan_rgb
    src = open_source(str(path))
    try:
        return plan_rgb(src, bands)
    finally:
        src.close()


U16 = np.zeros((1, 8, 8), np.uint16)


@pytest.mark.parametrize('count,colorinterp,descriptions,tags,bands,rule', [
    (3, ['red', 'green', 'blue'], None, None, [1, 2, 3],
     'colour interpretation'),
    (4, ['blue', 'green', 'red', 'undefined'], None, None, [3, 2, 1],
     'colour interpretation'),
    (4, None, ('blue', 'green', 'red', 'nir'), None, [3, 2, 1],
     'band descriptions'),
    (6, None, ('B2', 'B3', 'B4', 'B5 red edge', 'B8', 'B11'), None,
     [3, 2, 1], 'band descriptions'),
    (4, None, None, dict(PLATFORM='PlanetScope PSB.SD'), [3, 2, 1],
     'sensor layout from metadata: PlanetScope'),
    (4, None, None, dict(SOURCE='USDA NAIP 2022'), [1, 2, 3],
     'sensor layout from metadata: NAIP'),
    (13, None, None, None, [4, 3, 2], 'band count: Sentinel-2 L1C'),
    (12, None, None, None, [4, 3, 2], 'band count: Sentinel-2 L2A'),
    (11, None, None, None, [4, 3, 2], 'band count: Landsat 8/9'),
    (7, None, None, None, [4, 3, 2], 'band count: Landsat 8/9'),
    (1, None, None, None, [1, 1, 1], 'single band: grey'),
    (3, None, None, None, [1, 2, 3], 'three bands without colour'),
], ids=['rgb', 'bgrn_colorinterp', 'bgrn_descriptions', 's2_names',
        'planetscope_tag', 'naip_tag', 's2_13', 's2_12', 'landsat_11',
        'landsat_7', 'grey', 'three_bands'])
def test_rules(tmp_path, count, colorinterp, descriptions, tags, bands,
               rule):
    data = np.zeros((count, 8, 8), np.uint16)
    p = _write(tmp_path / 'x.tif', data, colorinterp, descriptions, tags,
               photometric='MINISBLACK')
    plan = _plan(p)
    assert plan.bands == bands and rule in plan.rule
    assert rule in plan.describe() and plan.to_dict()['bands'] == bands


def test_given_bands_win(tmp_path):
    p = _write(tmp_path / 'x.tif', np.zeros((13, 8, 8), np.uint16))
    plan = _plan(p, [8, 4, 3])
    assert plan.bands == [8, 4, 3] and plan.rule == 'given (--bands)'


def test_palette_gives_the_colour_table(tmp_path):
    idx = np.array([[[0, 1], [2, 1]]], np.uint8)
    cmap = {0: (10, 20, 30, 255), 1: (200, 0, 0, 255), 2: (0, 90, 0, 255)}
    p = _write(tmp_path / 'pal.tif', idx, colormap=cmap)
    plan = _plan(p)
    assert plan.is_palette and plan.rule == 'palette: colour table'
    rgb = plan.to_uint8(idx, None)
    assert rgb[:, 0, 1].tolist() == [200, 0, 0]
    assert rgb[:, 1, 0].tolist() == [0, 90, 0]


def test_float_nan_is_nodata(tmp_path):
    from ovseg_plugins.apis.raster import open_source
    data = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    data[:, 2, 3] = np.nan
    data[1, 5, 5] = np.nan  # one band enough
    p = write_raster(tmp_path / 'f.tif', data)
    assert _plan(tmp_path / 'f.tif').nan_is_nodata
    src = open_source(str(tmp_path / 'f.tif'))
    _, valid = src.read([1, 2, 3], (0, 8, 0, 8))
    src.close()
    assert not valid[2, 3] and not valid[5, 5] and valid.sum() == 62
    del p

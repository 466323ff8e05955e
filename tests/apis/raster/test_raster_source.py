import numpy as np
import pytest

pytest.importorskip('rasterio')

from raster_helpers import (pointwise_probs, run_pointwise,  # noqa: E402,F401
                            write_raster)


def test_tile_folder_becomes_one_mosaic(tmp_path):
    import rasterio
    from rasterio.transform import from_origin
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, (3, 150, 200), dtype=np.uint8)
    write_raster(tmp_path / 'whole.tif', data)
    tiles = tmp_path / 'tiles'
    tiles.mkdir()
    for k, (y0, x0) in enumerate([(0, 0), (0, 100), (70, 0), (70, 100)]):
        t = from_origin(500000.0 + x0 * 0.5, 5650000.0 - y0 * 0.5, 0.5, 0.5)
        write_raster(tiles / f't{k}.tif', data[:, y0:y0 + 80, x0:x0 + 100],
                     transform=t)
    run_pointwise(tmp_path / 'whole.tif', tmp_path / 'a.tif', tile_size=64)
    run_pointwise(tiles, tmp_path / 'b.tif', tile_size=64)
    with rasterio.open(tmp_path / 'a.tif') as a, \
            rasterio.open(tmp_path / 'b.tif') as b:
        assert a.transform == b.transform and a.shape == b.shape
        assert np.array_equal(a.read(), b.read())


def test_mosaic_rejects_tiles_off_grid(tmp_path):
    from rasterio.transform import from_origin

    from ovseg_plugins.apis.raster import MosaicSource
    d = np.zeros((3, 10, 10), np.uint8)
    write_raster(tmp_path / 'a.tif', d)
    write_raster(tmp_path / 'b.tif', d,
                 transform=from_origin(500000.2, 5650000.0, 0.5, 0.5))
    with pytest.raises(ValueError, match='b.tif.*grid'):
        MosaicSource(str(tmp_path))


def test_mosaic_refuses_tiles_without_georeference(tmp_path):
    """Plain PNG tiles all sit at the identity transform: a mosaic would
    keep only the first (was: one tile's output, silently)."""
    import warnings

    from PIL import Image

    from ovseg_plugins.apis.raster import MosaicSource
    for k in range(3):
        Image.fromarray(np.full((16, 16, 3), k, np.uint8)).save(
            tmp_path / f'{k}.png')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # rasterio: NotGeoreferencedWarning
        with pytest.raises(ValueError) as e:
            MosaicSource(str(tmp_path))
    msg = str(e.value)
    assert '0.png' in msg and 'has no georeference' in msg
    assert 'without --mosaic' in msg


def test_quicklook_and_tags_say_random_weights(tmp_path):
    import rasterio
    from PIL import Image
    data = np.zeros((3, 64, 96), np.uint8)
    data[0, :, 48:] = 200
    write_raster(tmp_path / 'in.tif', data)
    run_pointwise(tmp_path / 'in.tif', tmp_path / 'out.tif',
                  quicklook=str(tmp_path / 'q.png'),
                  tags=dict(ovseg_random_weights='true'), stamp='random')
    run_pointwise(tmp_path / 'in.tif', tmp_path / 'plain.tif',
                  quicklook=str(tmp_path / 'p.png'))
    with rasterio.open(tmp_path / 'out.tif') as a, \
            rasterio.open(tmp_path / 'plain.tif') as b:
        assert a.tags()['ovseg_random_weights'] == 'true'
        assert 'ovseg_random_weights' not in b.tags()
        assert np.array_equal(a.read(), b.read())
    q = np.asarray(Image.open(tmp_path / 'q.png'))
    p = np.asarray(Image.open(tmp_path / 'p.png'))
    diff = (q != p).any(-1)
    assert diff.any() and np.nonzero(diff)[0].min() >= 64 - 24
    band = q[-24:, :30]  # the stamp's red band (white text on it)
    assert ((band == (255, 0, 0, 255)).all(-1)).mean() > 0.5


def test_missing_or_unreadable_raster_is_a_clear_error(tmp_path):
    from ovseg_plugins.apis.raster import RasterSource
    with pytest.raises(FileNotFoundError, match='nope.tif'):
        RasterSource(str(tmp_path / 'nope.tif'))
    (tmp_path / 'notes.tif').write_text('not a raster')
    with pytest.raises(ValueError, match='notes.tif'):
        RasterSource(str(tmp_path / 'notes.tif'))

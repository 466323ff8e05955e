import numpy as np
import pytest

pytest.importorskip('rasterio')

from raster_helpers import (pointwise_probs, run_pointwise,  # noqa: E402,F401
                            write_raster)


def test_block_grid_and_ramp_weights():
    from ovseg_plugins.apis.raster import block_starts, ramp_weights
    assert block_starts(100, 128, 16) == [(0, 100)]
    b = block_starts(1000, 256, 32)
    assert b[0][0] == 0 and b[-1][1] == 1000
    assert all(e - s == 256 for s, e in b)
    assert all(b[k][1] - b[k + 1][0] >= 32 for k in range(len(b) - 1))
    w = ramp_weights(b, 1)
    assert w.min() > 0 and w.max() == 1 and w[0] < 0.1 and w[-1] < 0.1
    assert ramp_weights(b, 0)[0] == 1  # raster edge: full weight
    with pytest.raises(ValueError, match='overlap'):
        block_starts(1000, 64, 64)


def test_crs_transform_kept_and_tiles_equal_whole_image(tmp_path):
    import rasterio
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (3, 301, 257), dtype=np.uint8)
    tr = write_raster(tmp_path / 'in.tif', data)
    res = run_pointwise(tmp_path / 'in.tif', tmp_path / 'out.tif',
                        tile_size=96, overlap=24,
                        quicklook=str(tmp_path / 'q.png'))
    assert res['windows'] == 4 * 4
    with rasterio.open(tmp_path / 'out.tif') as ds:
        assert ds.crs.to_string() == 'EPSG:32632' and ds.transform == tr
        assert (ds.width, ds.height, ds.count) == (257, 301, 1)
        assert ds.nodata == 255 and ds.colormap(1)[1] == (0, 255, 0, 255)
        assert ds.tags()['classes'] == 'a,b,c'
        labels = ds.read(1)
    # the whole image at once (no windows): identical everywhere
    whole = pointwise_probs(data.transpose(1, 2, 0)).argmax(0)
    assert np.array_equal(labels, whole)
    from PIL import Image
    q = np.array(Image.open(tmp_path / 'q.png'))
    assert q.shape == (301, 257, 4) and (q[..., 3] == 255).all()


def test_nodata_kept_and_empty_windows_skipped(tmp_path):
    import rasterio
    data = np.full((3, 200, 200), 100, np.uint8)
    data[:, :, :90] = 0  # nodata: the left 90 columns
    write_raster(tmp_path / 'in.tif', data, nodata=0)
    res = run_pointwise(tmp_path / 'in.tif', tmp_path / 'out.tif',
                        tile_size=64, overlap=16)
    with rasterio.open(tmp_path / 'out.tif') as ds:
        labels = ds.read(1)
    assert (labels[:, :90] == 255).all() and (labels[:, 90:] != 255).all()
    assert res['skipped_nodata_windows'] > 0
    assert abs(res['nodata_fraction'] - 0.45) < 1e-9


def test_16bit_stretch_is_the_documented_percentile_map(tmp_path):
    from ovseg_plugins.apis.raster import segment_raster
    rng = np.random.default_rng(0)
    data = rng.integers(1000, 9000, (4, 120, 90)).astype(np.uint16)
    write_raster(tmp_path / 'in.tif', data)
    seen = []

    def record(rgb):
        seen.append(rgb.copy())
        return pointwise_probs(rgb)

    res = segment_raster(record, str(tmp_path / 'in.tif'),
                         str(tmp_path / 'o.tif'), num_classes=3,
                         bands=[3, 2, 1], tile_size=512, progress=False)
    sel = data[[2, 1, 0]].astype(np.float64)
    lo = np.percentile(sel.reshape(3, -1), 2, axis=1)
    hi = np.percentile(sel.reshape(3, -1), 98, axis=1)
    expect = np.rint(np.clip((sel - lo[:, None, None]) /
                             (hi - lo)[:, None, None], 0, 1) * 255)
    assert res['bands'] == [3, 2, 1]
    np.testing.assert_allclose(res['stretch'], np.stack([lo, hi], 1))
    # float32 arithmetic in the map: at most one grey level off at ties
    diff = np.abs(seen[0].transpose(2, 0, 1).astype(int) - expect)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99

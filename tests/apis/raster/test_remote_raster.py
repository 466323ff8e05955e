"""Remote rasters read window by window through GDAL (HTTP range requests),
against a local HTTP server (stdlib, free port) serving a COG."""
import os
import os.path as osp
import sys

import numpy as np
import pytest

pytest.importorskip('rasterio')

from conftest import REPO_ROOT  # noqa: E402
from raster_helpers import pointwise_probs, run_pointwise  # noqa: E402

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
from range_server import RangeServer  # noqa: E402


@pytest.fixture
def server(tmp_path):
    with RangeServer(tmp_path) as srv:
        yield srv


def _cog(path, data):
    import rasterio
    from rasterio.transform import from_origin
    B, H, W = data.shape
    with rasterio.open(str(path) + '.src.tif', 'w', driver='GTiff', width=W,
                       height=H, count=B, dtype=data.dtype,
                       crs='EPSG:32632',
                       transform=from_origin(5e5, 5.65e6, 1, 1)) as d:
        d.write(data)
    from rasterio.shutil import copy
    copy(str(path) + '.src.tif', str(path), driver='COG', BLOCKSIZE=256,
         COMPRESS='NONE', OVERVIEWS='AUTO')
    os.remove(str(path) + '.src.tif')


def test_http_cog_read_window_by_window(tmp_path, server):
    """A COG over HTTP (``http://`` and ``/vsicurl/``) gives the labels of
    the local file, reading only byte ranges: bytes sent <= 1.5 x the
    full-resolution tiles plus the headers (everything before the first
    tile)."""
    import rasterio

    from ovseg_plugins.apis.raster.cog import _ifds
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (3, 700, 620), dtype=np.uint8)
    _cog(tmp_path / 'scene.tif', data)
    with open(tmp_path / 'scene.tif', 'rb') as f:
        ifds = _ifds(f)
    main = ifds[0][1]
    tiles_bytes = sum(main[325])
    header = min(min(t[324]) for _, t in ifds if t.get(324))
    out = tmp_path / 'out'
    url = server.url('scene.tif')
    res = run_pointwise(url, out / 'remote.tif', tile_size=256)
    assert res['windows'] == 9
    assert server.ranges and all(r and r.startswith('bytes=')
                                 for r in server.ranges)
    assert server.bytes_sent <= 1.5 * tiles_bytes + header, (
        server.bytes_sent, tiles_bytes, header)
    run_pointwise(f'/vsicurl/{url}', out / 'vsi.tif', tile_size=256)
    with rasterio.open(out / 'remote.tif') as a, \
            rasterio.open(out / 'vsi.tif') as b:
        la, lb = a.read(1), b.read(1)
        assert a.crs.to_epsg() == 32632
    ref = pointwise_probs(data.transpose(1, 2, 0)).argmax(0)
    assert np.array_equal(la, ref) and np.array_equal(lb, ref)


def test_url_to_gdal_path():
    from ovseg_plugins.apis.raster import gdal_path, is_remote
    assert gdal_path('https://h/x.tif') == '/vsicurl/https://h/x.tif'
    assert gdal_path('s3://bucket/k/x.tif') == '/vsis3/bucket/k/x.tif'
    assert gdal_path('/vsis3/b/x.tif') == '/vsis3/b/x.tif'
    assert is_remote('s3://b/x.tif') and not is_remote('/data/x.tif')

"""Remote rasters read window by window through GDAL (HTTP range requests),
against a local HTTP server (stdlib, free port) serving a COG."""
import http.server
import os
import re
import threading

import numpy as np
import pytest

pytest.importorskip('rasterio')

from raster_helpers import pointwise_probs, run_pointwise  # noqa: E402


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves files of ``root`` with single byte ranges; counts what it
    sends."""
    root, served, requests = None, [0], []

    def log_message(self, *a):
        pass

    def _file(self):
        p = os.path.join(self.root, self.path.lstrip('/'))
        return p if os.path.isfile(p) else None

    def do_HEAD(self):
        p = self._file()
        if p is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header('Content-Length', str(os.path.getsize(p)))
        self.send_header('Accept-Ranges', 'bytes')
        self.end_headers()

    def do_GET(self):
        p = self._file()
        if p is None:
            self.send_error(404)
            return
        size = os.path.getsize(p)
        rng = self.headers.get('Range')
        self.requests.append(rng)
        a, b = 0, size - 1
        m = re.fullmatch(r'bytes=(\d+)-(\d*)', rng or '')
        if m:
            a, b = int(m.group(1)), min(size - 1, int(m.group(2) or size - 1))
            self.send_response(206)
            self.send_header('Content-Range', f'bytes {a}-{b}/{size}')
        else:
            self.send_response(200)
        self.send_header('Content-Length', str(b - a + 1))
        self.send_header('Accept-Ranges', 'bytes')
        self.end_headers()
        with open(p, 'rb') as f:
            f.seek(a)
            data = f.read(b - a + 1)
        self.wfile.write(data)
        self.served[0] += len(data)


@pytest.fixture
def server(tmp_path):
    handler = type('H', (_RangeHandler, ), dict(root=str(tmp_path),
                                                served=[0], requests=[]))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}', handler
    httpd.shutdown()
    httpd.server_close()


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
    url, handler = server
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (3, 700, 620), dtype=np.uint8)
    _cog(tmp_path / 'scene.tif', data)
    with open(tmp_path / 'scene.tif', 'rb') as f:
        ifds = _ifds(f)
    main = ifds[0][1]
    tiles_bytes = sum(main[325])
    header = min(min(t[324]) for _, t in ifds if t.get(324))
    out = tmp_path / 'out'
    res = run_pointwise(f'{url}/scene.tif', out / 'remote.tif',
                        tile_size=256)
    assert res['windows'] == 9
    assert all(r and r.startswith('bytes=') for r in handler.requests)
    assert handler.served[0] <= 1.5 * tiles_bytes + header, (
        handler.served[0], tiles_bytes, header)
    run_pointwise(f'/vsicurl/{url}/scene.tif', out / 'vsi.tif',
                  tile_size=256)
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

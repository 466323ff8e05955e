"""A local HTTP server with byte-range requests (stdlib only) that counts
what it sends: the remote-raster benchmark and tests read a COG through
GDAL's ``/vsicurl/`` from it on a free port of 127.0.0.1.

    with RangeServer(folder) as srv:
        url = srv.url('scene.tif')       # http://127.0.0.1:<port>/scene.tif
        ...
        srv.bytes_sent, srv.ranges       # body bytes sent, Range headers
"""
import http.server
import os
import os.path as osp
import re
import threading


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves the files of ``server.root`` (HEAD, GET with one byte range)."""

    def log_message(self, *a):
        pass

    def _file(self):
        p = osp.join(self.server.root, self.path.lstrip('/'))
        return p if osp.isfile(p) else None

    def do_HEAD(self):
        p = self._file()
        if p is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header('Content-Length', str(osp.getsize(p)))
        self.send_header('Accept-Ranges', 'bytes')
        self.end_headers()

    def do_GET(self):
        p = self._file()
        if p is None:
            self.send_error(404)
            return
        size = osp.getsize(p)
        rng = self.headers.get('Range')
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
        with self.server.count_lock:
            self.server.ranges.append(rng)
            self.server.bytes_sent += len(data)


class RangeServer:
    """Serve ``root`` on a free port of 127.0.0.1 from a daemon thread
    (a context manager; ``close()`` stops it and frees the port)."""

    def __init__(self, root: str):
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     _Handler)
        self.httpd.root = os.fspath(root)
        self.httpd.count_lock = threading.Lock()
        self.reset()
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        daemon=True)
        self._thread.start()

    def url(self, name: str) -> str:
        return f'http://127.0.0.1:{self.httpd.server_address[1]}/{name}'

    def reset(self) -> None:
        """Zero the counters."""
        self.httpd.ranges, self.httpd.bytes_sent = [], 0

    @property
    def bytes_sent(self) -> int:
        return self.httpd.bytes_sent

    @property
    def ranges(self):
        return list(self.httpd.ranges)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

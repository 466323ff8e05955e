import numpy as np
import pytest

pytest.importorskip('rasterio')

from raster_helpers import (pointwise_probs, run_pointwise,  # noqa: E402,F401
                            write_raster)


def test_polygons_geojson(tmp_path):
    import json
    data = np.zeros((3, 64, 64), np.uint8)
    data[0, :, 32:] = 200  # two regions of different label
    write_raster(tmp_path / 'in.tif', data)
    res = run_pointwise(tmp_path / 'in.tif', tmp_path / 'out.tif',
                        polygons=str(tmp_path / 'p.geojson'))
    gj = json.loads((tmp_path / 'p.geojson').read_text())
    assert res['num_polygons'] == len(gj['features']) == 2
    assert 'EPSG::32632' in gj['crs']['properties']['name']
    xs = [c[0] for f in gj['features']
          for c in f['geometry']['coordinates'][0]]
    assert min(xs) == 500000.0 and max(xs) == 500000.0 + 64 * 0.5
    assert {f['properties']['class_name'] for f in gj['features']} <= \
        {'a', 'b', 'c'}

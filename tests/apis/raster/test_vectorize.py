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


def test_polygons_geopackage_equal_the_geojson(tmp_path):
    """The .gpkg path writes the same polygons, properties and CRS as the
    GeoJSON path (read back with fiona), atomically: no temp file left."""
    import json
    fiona = pytest.importorskip('fiona')
    from rasterio.crs import CRS

    from ovseg_plugins.apis.raster.vectorize import write_polygons
    data = np.zeros((3, 64, 64), np.uint8)
    data[0, :, 32:] = 200
    data[0, 40:, :16] = 100  # a third region, not touching the others' edge
    write_raster(tmp_path / 'in.tif', data)
    run_pointwise(tmp_path / 'in.tif', tmp_path / 'out.tif')
    names = ['a', 'b', 'c']
    n_gj = write_polygons(str(tmp_path / 'out.tif'),
                          str(tmp_path / 'p.geojson'), names)
    n_gp = write_polygons(str(tmp_path / 'out.tif'),
                          str(tmp_path / 'p.gpkg'), names)
    gj = json.loads((tmp_path / 'p.geojson').read_text())['features']
    with fiona.open(str(tmp_path / 'p.gpkg'), layer='classes') as src:
        assert CRS.from_wkt(src.crs_wkt).to_epsg() == 32632
        gp = [dict(geometry=dict(f['geometry']),
                   properties=dict(f['properties'])) for f in src]
    assert n_gj == n_gp == len(gj) == len(gp) >= 2

    def key(f):
        ring = [tuple(map(float, c)) for c in f['geometry']['coordinates'][0]]
        return (f['properties']['class_id'], f['properties']['class_name'],
                sorted(ring))

    assert sorted(map(key, gp)) == sorted(map(key, gj))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'in.tif', 'out.tif', 'p.geojson', 'p.gpkg']


def test_polygons_unknown_extension_is_refused(tmp_path):
    from ovseg_plugins.apis.raster.vectorize import write_polygons
    write_raster(tmp_path / 'in.tif', np.zeros((3, 8, 8), np.uint8))
    run_pointwise(tmp_path / 'in.tif', tmp_path / 'out.tif')
    with pytest.raises(ValueError, match=r"p\.shp'.*use a \.geojson or "
                       r'\.gpkg file name'):
        write_polygons(str(tmp_path / 'out.tif'), str(tmp_path / 'p.shp'))
    assert not (tmp_path / 'p.shp').exists()

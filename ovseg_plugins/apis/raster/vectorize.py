"""Class polygons of a label raster (GeoJSON or GeoPackage), streamed.

``rasterio.features.shapes`` traces the regions of equal label of one window
at a time (4-connected), in the raster's CRS; nodata is skipped. Features are
written as they come, so memory stays bounded; on rasters larger than one
window, a region crossing the window grid is cut into one polygon per window
(dissolve by ``class_id`` in a GIS to merge them).

GeoJSON is written directly (one feature per line; the raster's CRS is named
in the legacy ``crs`` member when it is not WGS 84); GeoPackage needs fiona.
"""
import json
import os
import os.path as osp
from typing import Optional, Sequence

from ovseg_plugins.utils.io import atomic_write


def _features(label_path: str, class_names: Optional[Sequence[str]],
              window: int):
    import rasterio
    from rasterio.features import shapes
    from rasterio.windows import Window
    with rasterio.open(label_path) as ds:
        nodata = ds.nodata
        for y0 in range(0, ds.height, window):
            for x0 in range(0, ds.width, window):
                win = Window(x0, y0, min(window, ds.width - x0),
                             min(window, ds.height - y0))
                labels = ds.read(1, window=win)
                mask = None if nodata is None else labels != nodata
                for geom, value in shapes(
                        labels, mask=mask,
                        transform=ds.window_transform(win),
                        connectivity=4):
                    k = int(value)
                    name = class_names[k] if class_names and \
                        k < len(class_names) else str(k)
                    yield geom, dict(class_id=k, class_name=name)


def write_polygons(label_path: str, out_path: str,
                   class_names: Optional[Sequence[str]] = None,
                   window: int = 4096) -> int:
    """Write the class polygons of ``label_path`` to ``out_path``.

    Args:
        label_path (str): A label GeoTIFF (nodata skipped).
        out_path (str): ``.geojson`` / ``.json`` or ``.gpkg``.
        class_names (list[str], optional): ``class_name`` property.
        window (int): Tracing window side.

    Returns:
        int: Number of polygons written.
    """
    import rasterio
    ext = osp.splitext(out_path)[1].lower()
    with rasterio.open(label_path) as ds:
        crs = ds.crs
    n = [0]
    if ext in ('.geojson', '.json'):

        def write(tmp):
            with open(tmp, 'w') as f:
                f.write('{"type": "FeatureCollection",\n')
                if crs is not None and crs.to_epsg() != 4326:
                    name = f'urn:ogc:def:crs:EPSG::{crs.to_epsg()}' \
                        if crs.to_epsg() else crs.to_wkt()
                    f.write('"crs": ' + json.dumps(
                        dict(type='name', properties=dict(name=name))) +
                            ',\n')
                f.write('"features": [\n')
                for geom, props in _features(label_path, class_names,
                                             window):
                    if n[0]:
                        f.write(',\n')
                    f.write(json.dumps(dict(type='Feature', geometry=geom,
                                            properties=props)))
                    n[0] += 1
                f.write('\n]}\n')

        atomic_write(out_path, write, suffix=ext)
    elif ext == '.gpkg':
        try:
            import fiona
        except ImportError as e:
            raise ImportError(
                f'Writing {out_path!r} (GeoPackage) needs fiona (pip install '
                'fiona); or write .geojson, which needs nothing more.') from e
        schema = dict(geometry='Polygon',
                      properties=dict(class_id='int', class_name='str'))

        def write(tmp):
            os.remove(tmp)  # GDAL's GPKG driver creates the file itself
            kw = dict(crs_wkt=crs.to_wkt()) if crs is not None else {}
            with fiona.open(tmp, 'w', driver='GPKG', schema=schema,
                            layer='classes', **kw) as dst:
                for geom, props in _features(label_path, class_names,
                                             window):
                    dst.write(fiona.Feature.from_dict(
                        dict(geometry=geom, properties=props)))
                    n[0] += 1

        atomic_write(out_path, write, suffix=ext)
    else:
        raise ValueError(f'Polygon output {out_path!r}: use a .geojson or '
                         '.gpkg file name.')
    return n[0]

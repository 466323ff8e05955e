"""Class polygons of a label raster (GeoJSON or GeoPackage), streamed.

``rasterio.features.shapes`` traces the regions of equal label of one window
at a time (4-connected), in the raster's CRS; nodata is skipped. Features are
written as they come, so memory stays bounded; on rasters larger than one
window, a region crossing the window grid is cut into one polygon per window
(dissolve by ``class_id`` in a GIS to merge them). With the score raster,
each polygon carries the mean score of its pixels (``mean_score``, 0..1).

GeoJSON is written directly (one feature per line; the raster's CRS is named
in the legacy ``crs`` member when it is not WGS 84); GeoPackage needs fiona.
"""
import contextlib
import json
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np

from ovseg_plugins.utils.io import atomic_write


def _components(labels, mask):
    """4-connected regions of equal label: ``(ids, classes)`` with ids 1..n
    (0 outside ``mask``) and the class of each id."""
    from scipy import ndimage
    ids = np.zeros(labels.shape, np.int32)
    classes = [0]
    four = ndimage.generate_binary_structure(2, 1)
    for k in np.unique(labels[mask]):
        lab, n = ndimage.label((labels == k) & mask, structure=four)
        ids[lab > 0] = lab[lab > 0] + len(classes) - 1
        classes += [int(k)] * n
    return ids, classes


def _features(label_path: str, class_names: Optional[Sequence[str]],
              window: int, scores_path: Optional[str] = None):
    import rasterio
    from rasterio.features import shapes
    from rasterio.windows import Window
    with contextlib.ExitStack() as stack:
        ds = stack.enter_context(rasterio.open(label_path))
        sc = None if scores_path is None else stack.enter_context(
            rasterio.open(scores_path))
        nodata = ds.nodata
        for y0 in range(0, ds.height, window):
            for x0 in range(0, ds.width, window):
                win = Window(x0, y0, min(window, ds.width - x0),
                             min(window, ds.height - y0))
                labels = ds.read(1, window=win)
                mask = np.ones(labels.shape, bool) if nodata is None else \
                    labels != nodata
                ids, classes = _components(labels, mask)
                mean = None
                if sc is not None:  # mean score (0..1) of each region
                    s = sc.read(1, window=win).astype(np.float64) / 255
                    n = np.bincount(ids.ravel(), minlength=len(classes))
                    tot = np.bincount(ids.ravel(), s.ravel(),
                                      minlength=len(classes))
                    mean = tot / np.maximum(n, 1)
                for geom, value in shapes(
                        ids, mask=ids > 0,
                        transform=ds.window_transform(win), connectivity=4):
                    i = int(value)
                    k = classes[i]
                    name = class_names[k] if class_names and \
                        k < len(class_names) else str(k)
                    props = dict(class_id=k, class_name=name)
                    if mean is not None:
                        props['mean_score'] = round(float(mean[i]), 4)
                    yield geom, props


def write_polygons(label_path: str, out_path: str,
                   class_names: Optional[Sequence[str]] = None,
                   window: int = 4096,
                   scores_path: Optional[str] = None) -> int:
    """Write the class polygons of ``label_path`` to ``out_path``.

    Args:
        label_path (str): A label GeoTIFF (nodata skipped).
        out_path (str): ``.geojson`` / ``.json`` or ``.gpkg``.
        class_names (list[str], optional): ``class_name`` property.
        window (int): Tracing window side.
        scores_path (str, optional): The score raster (winning probability
            x 255): each polygon gets ``mean_score`` (0..1).

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
                                             window, scores_path):
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
        props = dict(class_id='int', class_name='str')
        if scores_path:
            props['mean_score'] = 'float'
        schema = dict(geometry='Polygon', properties=props)

        def write(tmp):
            os.remove(tmp)  # GDAL's GPKG driver creates the file itself
            kw = dict(crs_wkt=crs.to_wkt()) if crs is not None else {}
            with fiona.open(tmp, 'w', driver='GPKG', schema=schema,
                            layer='classes', **kw) as dst:
                for geom, props in _features(label_path, class_names,
                                             window, scores_path):
                    dst.write(fiona.Feature.from_dict(
                        dict(geometry=geom, properties=props)))
                    n[0] += 1

        atomic_write(out_path, write, suffix=ext)
    else:
        raise ValueError(f'Polygon output {out_path!r}: use a .geojson or '
                         '.gpkg file name.')
    return n[0]

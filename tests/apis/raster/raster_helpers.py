"""Small georeferenced rasters and fake predictors for the raster tests."""
import numpy as np

CRS = 'EPSG:32632'


def write_raster(path, data, nodata=None, crs=CRS, transform=None):
    """Write ``(B, H, W)`` data as a GeoTIFF; returns the transform."""
    import rasterio
    from rasterio.transform import from_origin
    transform = transform or from_origin(500000.0, 5650000.0, 0.5, 0.5)
    B, H, W = data.shape
    with rasterio.open(path, 'w', driver='GTiff', width=W, height=H, count=B,
                       dtype=data.dtype, crs=crs, transform=transform,
                       nodata=nodata) as dst:
        dst.write(data)
    return transform


def pointwise_probs(rgb):
    """A per-pixel 'model': 3 classes from the red value (no context), so a
    tiled run must equal applying it to the whole image at once."""
    r = rgb[..., 0].astype(np.float32) / 255.
    logits = np.stack([np.cos(6 * r), np.sin(6 * r), r - 0.5]) * 4
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def run_pointwise(src, out, **kw):
    """segment_raster with :func:`pointwise_probs` and 3 named classes."""
    from ovseg_plugins.apis.raster import segment_raster
    kw.setdefault('progress', False)
    return segment_raster(pointwise_probs, str(src), str(out), num_classes=3,
                          class_names=['a', 'b', 'c'],
                          palette=[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
                          **kw)

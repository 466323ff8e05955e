"""Large-raster I/O for the 2D inferencer: windowed reads (one file, a tile
mosaic or a remote raster), the decided RGB reading (semantics) + 8-bit
stretch, tiled segmentation into a label GeoTIFF, quick-look PNG and class
polygons (rasterio / GDAL)."""
from .raster_source import (MosaicSource, RasterSource, gdal_path, is_remote,
                            open_source)
from .semantics import RGBPlan, check_bands, plan_rgb
from .stretch import stretch_ranges, to_uint8
from .tiled_segmentation import (block_starts, colorize, ramp_weights,
                                 segment_raster, write_quicklook)
from .vectorize import write_polygons

__all__ = [
    'RasterSource', 'MosaicSource', 'open_source', 'is_remote', 'gdal_path',
    'RGBPlan', 'plan_rgb', 'check_bands',
    'stretch_ranges', 'to_uint8', 'segment_raster', 'block_starts',
    'ramp_weights', 'colorize', 'write_quicklook', 'write_polygons'
]

"""Large-raster I/O for the 2D inferencer: windowed reads (one file or a tile
mosaic), band selection + 8-bit stretch, blended tiled segmentation into a
label GeoTIFF, quick-look PNG and class polygons (rasterio / GDAL)."""
from .raster_source import MosaicSource, RasterSource, open_source
from .stretch import select_bands, stretch_ranges, to_uint8
from .tiled_segmentation import (block_starts, colorize, ramp_weights,
                                 segment_raster, write_quicklook)
from .vectorize import write_polygons

__all__ = [
    'RasterSource', 'MosaicSource', 'open_source', 'select_bands',
    'stretch_ranges', 'to_uint8', 'segment_raster', 'block_starts',
    'ramp_weights', 'colorize', 'write_quicklook', 'write_polygons'
]

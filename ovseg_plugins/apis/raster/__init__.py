"""Large-raster inference for the 2D inferencer: windowed reads (one file, a
tile mosaic or a remote raster), the decided RGB reading (semantics) + 8-bit
stretch, windows on the model's own slide grid shared by the processes of a
torch.distributed job, resumable parts, Cloud-Optimised GeoTIFF labels and
scores, quick-look PNG and class polygons (rasterio / GDAL)."""
from .cog import cog_layout_problems, to_cog
from .raster_source import (MosaicSource, RasterSource, ScaledSource,
                            gdal_path, is_remote, open_source)
from .run_folder import RunFolder, check_no_overlap, output_stems
from .semantics import RGBPlan, check_bands, plan_rgb
from .slide_model import FunctionModel, SlideModel, as_slide_model
from .stretch import stretch_ranges, to_uint8
from .tiled_segmentation import (RasterRun, colorize, raster_env,
                                 segment_raster, write_quicklook)
from .vectorize import write_polygons
from .window_grid import WindowGrid

__all__ = [
    'RasterSource', 'MosaicSource', 'ScaledSource', 'open_source',
    'is_remote', 'gdal_path', 'RGBPlan', 'plan_rgb', 'check_bands',
    'stretch_ranges', 'to_uint8', 'segment_raster', 'RasterRun', 'raster_env',
    'colorize', 'write_quicklook', 'write_polygons', 'WindowGrid',
    'SlideModel', 'FunctionModel', 'as_slide_model', 'RunFolder',
    'check_no_overlap', 'output_stems', 'to_cog', 'cog_layout_problems'
]

from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class OpenEarthMapDataset(RSSegDataset):
    """OpenEarthMap land-cover dataset (9 classes incl. background),
    ``.tif`` images and labels."""
    IMG_SUFFIX = '.tif'
    SEG_MAP_SUFFIX = '.tif'
    METAINFO = dict(
        classes=('background', 'bareland', 'grass', 'pavement', 'road', 'tree', 'water', 'cropland', 'building'),
        palette=[[0, 0, 0], [128, 0, 0], [128, 64, 128], [192, 0, 192], [0, 128, 0], [128, 128, 0], [64, 64, 0], [0, 0, 255], [255, 255, 0]])

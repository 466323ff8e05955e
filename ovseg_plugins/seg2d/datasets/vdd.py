from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class VDDDataset(RSSegDataset):
    """VDD (Varied Drone Dataset, 7 classes), ``.JPG`` images, index
    ``.png`` labels."""
    IMG_SUFFIX = '.JPG'
    SEG_MAP_SUFFIX = '.png'
    METAINFO = dict(
        classes=('other', 'wall', 'road', 'vegetation', 'vehicle', 'roof', 'water'),
        palette=[[0, 0, 0], [128, 0, 0], [128, 64, 128], [192, 0, 192], [0, 128, 0], [128, 128, 0], [64, 64, 0]])

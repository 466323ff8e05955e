from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class xBDDataset(RSSegDataset):
    """xBD pre-disaster building footprints (``images_pre``), labels 0/1."""
    IMG_SUFFIX = '.png'
    SEG_MAP_SUFFIX = '.png'
    METAINFO = dict(
        classes=('background', 'building'),
        palette=[[0, 0, 0], [255, 255, 255]])

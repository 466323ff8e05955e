from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class CHN6CUGDataset(RSSegDataset):
    """CHN6-CUG road dataset, labels 0/1."""
    IMG_SUFFIX = '.jpg'
    SEG_MAP_SUFFIX = '.png'
    METAINFO = dict(
        classes=('background', 'road'),
        palette=[[0, 0, 0], [255, 255, 255]])

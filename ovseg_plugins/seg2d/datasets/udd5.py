from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class UDD5Dataset(RSSegDataset):
    """UDD5 UAV dataset (5 classes), ``.JPG`` images, index ``.png``
    labels."""
    IMG_SUFFIX = '.JPG'
    SEG_MAP_SUFFIX = '.png'
    METAINFO = dict(
        classes=('vegetation', 'building', 'road', 'vehicle', 'other'),
        palette=[[0, 0, 0], [128, 0, 0], [128, 64, 128], [192, 0, 192], [0, 128, 0]])

from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class WaterDataset(RSSegDataset):
    """Water-body / flood segmentation (WBS-SI), ``.jpg`` images and masks
    with values 0/1 (convert 0/255 with ``binarize_labels.py``)."""
    IMG_SUFFIX = '.jpg'
    SEG_MAP_SUFFIX = '.jpg'
    METAINFO = dict(
        classes=('background', 'water'),
        palette=[[0, 0, 0], [255, 255, 255]])

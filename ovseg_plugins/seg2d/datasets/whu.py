from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class WHUDataset(RSSegDataset):
    """WHU building dataset (aerial or satellite II), labels 0/1 (convert
    0/255 with ``tools/dataset_converters/binarize_labels.py``)."""
    IMG_SUFFIX = '.png'
    SEG_MAP_SUFFIX = '.png'
    METAINFO = dict(
        classes=('background', 'building'),
        palette=[[0, 0, 0], [255, 255, 255]])

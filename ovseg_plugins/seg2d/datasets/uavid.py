from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class UAVidDataset(RSSegDataset):
    """UAVid urban-scene UAV dataset (7 classes; moving and static cars
    merged). Labels as written by ``tools/dataset_converters/uavid.py``
    (index PNG, 255 = ignore)."""
    IMG_SUFFIX = '.png'
    SEG_MAP_SUFFIX = '.png'
    METAINFO = dict(
        classes=('background', 'building', 'road', 'car', 'tree', 'vegetation', 'human'),
        palette=[[0, 0, 0], [128, 0, 0], [128, 64, 128], [192, 0, 192], [0, 128, 0], [128, 128, 0], [64, 64, 0]])

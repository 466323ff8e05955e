"""Remote-sensing datasets that mmseg lacks (SegEarth-OV benchmarks)."""
from .open_earth_map import OpenEarthMapDataset
from .uavid import UAVidDataset
from .udd5 import UDD5Dataset
from .vdd import VDDDataset
from .whu import WHUDataset
from .inria import InriaDataset
from .xbd import xBDDataset
from .chn6_cug import CHN6CUGDataset
from .road_val import RoadValDataset
from .water import WaterDataset
from .rs_seg_dataset import RSSegDataset

__all__ = [
    'OpenEarthMapDataset',
    'UAVidDataset',
    'UDD5Dataset',
    'VDDDataset',
    'WHUDataset',
    'InriaDataset',
    'xBDDataset',
    'CHN6CUGDataset',
    'RoadValDataset',
    'WaterDataset',
    'RSSegDataset',
]
from .transforms import RandomPadCrop  # noqa: E402
from .unlabeled_image_dataset import UnlabeledImageDataset  # noqa: E402

__all__ += ['UnlabeledImageDataset', 'RandomPadCrop']

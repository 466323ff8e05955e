from .matterport_dataset import MatterportSegDataset
from .openscene_dataset import OpenSceneSegDataset
from .scannet200_dataset import ScanNet200SegDataset
from .scannet_scene_dataset import ScanNetSceneSegDataset
from .transforms import (AddPointNormals, LoadOpenScenePoints,
                         LoadPointFeatures)

__all__ = [
    'AddPointNormals', 'LoadOpenScenePoints', 'LoadPointFeatures',
    'MatterportSegDataset', 'OpenSceneSegDataset', 'ScanNet200SegDataset',
    'ScanNetSceneSegDataset'
]

from .scannet_scene_dataset import ScanNetSceneSegDataset
from .transforms import LoadPointFeatures

__all__ = ['LoadPointFeatures', 'ScanNetSceneSegDataset']

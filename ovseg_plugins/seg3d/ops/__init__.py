from .submanifold_conv import SubMConv3d, neighbour_map, voxel_keys

__all__ = ['SubMConv3d', 'neighbour_map', 'voxel_keys']

from .knn import (canonical_order, knn_indices, nearest_source,
                  spatial_order)
from .submanifold_conv import SubMConv3d, neighbour_map, voxel_keys

__all__ = ['SubMConv3d', 'neighbour_map', 'voxel_keys', 'knn_indices',
           'spatial_order', 'nearest_source', 'canonical_order']

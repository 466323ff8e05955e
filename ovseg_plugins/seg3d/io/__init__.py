"""Point-cloud files in and out (see :mod:`ovseg_plugins.seg3d.pointcloud_io`
for the dispatcher by extension)."""
from .cloud import (FLOAT32_LIMIT, LOCAL_LIMIT, PointCloud,
                    check_float32_coordinates, choose_origin, finish_cloud)

__all__ = ['PointCloud', 'finish_cloud', 'choose_origin', 'LOCAL_LIMIT',
           'FLOAT32_LIMIT', 'check_float32_coordinates']

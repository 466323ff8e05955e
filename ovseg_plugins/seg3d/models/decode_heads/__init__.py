from .geometry_guided_pooling import (affinity_weights,
                                      geometry_guided_pooling, knn_indices)

__all__ = ['knn_indices', 'affinity_weights', 'geometry_guided_pooling']

from .affinity_purify_head import AffinityPurifyHead
from .geometry_guided_pooling import (affinity_weights,
                                      geometry_guided_pooling, knn_indices)

__all__ = ['AffinityPurifyHead', 'knn_indices', 'affinity_weights',
           'geometry_guided_pooling']

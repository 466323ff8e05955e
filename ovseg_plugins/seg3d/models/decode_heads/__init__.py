from .affinity_purify_head import AffinityPurifyHead
from .geometry_guided_pooling import (GeometryGuidedPooling, affinity_weights,
                                      geometry_guided_pooling, knn_indices)
from .text_embedding_classifier import TextEmbeddingClassifier, text_scores

__all__ = ['AffinityPurifyHead', 'GeometryGuidedPooling', 'knn_indices',
           'affinity_weights', 'geometry_guided_pooling',
           'TextEmbeddingClassifier', 'text_scores']

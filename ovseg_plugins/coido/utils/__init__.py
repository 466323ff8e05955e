"""Helpers of the CoIDO data-selection components (no registries)."""
from .clustering import knn_affinity, nearest_centroid, spectral_clusters
from .data_list import check_hash, data_list_hash, dumps, to_jsonable
from .feature_bank import FeatureBank, cluster_features, load_feature_bank
from .io import (atomic_save_torch, atomic_write_json, load_indices_file,
                 load_json)
from .selection import budget_count, group_quotas, select_lowest
from .subset import (draw_subset, resolve_subset, subset_size,
                     validate_indices)
from .validation import (bank_stamp, check_bank_fields, check_clusters,
                         check_file_stamp)

__all__ = [
    'knn_affinity', 'nearest_centroid', 'spectral_clusters', 'check_hash',
    'data_list_hash', 'dumps', 'to_jsonable', 'FeatureBank',
    'cluster_features', 'load_feature_bank', 'atomic_save_torch',
    'atomic_write_json', 'load_indices_file', 'load_json', 'budget_count',
    'group_quotas', 'select_lowest', 'draw_subset', 'resolve_subset',
    'subset_size', 'validate_indices', 'bank_stamp', 'check_bank_fields',
    'check_clusters', 'check_file_stamp'
]

from .index_subset_epoch_sampler import IndexSubsetEpochSampler
from .index_subset_sampler import IndexSubsetSampler

__all__ = ['IndexSubsetSampler', 'IndexSubsetEpochSampler']

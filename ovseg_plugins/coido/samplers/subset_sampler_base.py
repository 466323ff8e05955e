"""Shared set-up of the subset samplers."""
from typing import Optional

from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from ..utils.subset import resolve_subset


class SubsetSamplerBase(Sampler):
    """Rank, world size, the resolved subset and the shuffle seed of
    :class:`IndexSubsetSampler` / :class:`IndexSubsetEpochSampler` (not
    registered: the two subclasses are the samplers)."""

    def __init__(self, dataset, indices_file: Optional[str], ratio:
                 Optional[float], subset_seed: int, shuffle: bool,
                 seed: Optional[int], check_data_hash: bool) -> None:
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.indices_file = indices_file
        self.indices = resolve_subset(dataset, indices_file, ratio,
                                      subset_seed, check_data_hash,
                                      type(self).__name__).tolist()
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else int(seed)

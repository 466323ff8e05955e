"""Epoch-based sampler over a fixed subset of global sample indices."""
import math
from typing import Iterator, Optional

import torch
from mmengine.registry import DATA_SAMPLERS

from .subset_sampler_base import SubsetSamplerBase


@DATA_SAMPLERS.register_module()
class IndexSubsetEpochSampler(SubsetSamplerBase):
    """Like mmengine's ``DefaultSampler``, restricted to a subset.

    Each epoch the subset is permuted with ``seed + epoch`` (same order on
    every rank), padded by repetition to a multiple of the world size when
    ``round_up``, and rank ``r`` takes ``order[r::world_size]``. ``__len__``
    is the per-rank count, so ``EpochBasedTrainLoop`` sizes its schedule on
    the subset. ``set_epoch`` is called by ``DistSamplerSeedHook``.

    Args:
        dataset: The full training dataset (injected by the Runner).
        indices_file (str, optional): Subset / selection JSON.
        ratio (float, optional): Draw ``ratio`` with ``subset_seed``.
        subset_seed (int): Defaults to 0.
        shuffle (bool): Defaults to True.
        seed (int, optional): Shuffle seed (synced across ranks if None).
        round_up (bool): Pad to a multiple of the world size. Defaults True.
        check_data_hash (bool): Defaults to True.
    """

    def __init__(self, dataset, indices_file: Optional[str] = None,
                 ratio: Optional[float] = None, subset_seed: int = 0,
                 shuffle: bool = True, seed: Optional[int] = None,
                 round_up: bool = True,
                 check_data_hash: bool = True) -> None:
        super().__init__(dataset, indices_file, ratio, subset_seed, shuffle,
                         seed, check_data_hash)
        self.round_up = round_up
        self.epoch = 0
        n, world_size = len(self.indices), self.world_size
        if round_up:
            self.num_samples = math.ceil(n / world_size)
            self.total_size = self.num_samples * world_size
        else:
            self.num_samples = math.ceil((n - self.rank) / world_size)
            self.total_size = n

    def __iter__(self) -> Iterator[int]:
        n = len(self.indices)
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=g).tolist()
        else:
            order = list(range(n))
        if self.round_up:
            order = (order * int(self.total_size / n + 1))[:self.total_size]
        return iter([self.indices[i] for i in
                     order[self.rank:self.total_size:self.world_size]])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

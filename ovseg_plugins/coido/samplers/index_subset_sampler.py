"""Infinite sampler over a fixed subset of global sample indices."""
import itertools
from typing import Iterator, Optional

import torch
from mmengine.registry import DATA_SAMPLERS

from .subset_sampler_base import SubsetSamplerBase


@DATA_SAMPLERS.register_module()
class IndexSubsetSampler(SubsetSamplerBase):
    """Like mmengine's ``InfiniteSampler``, restricted to a subset.

    The subset (global indices into the *full* dataset, so ``sample_idx``
    stays a global key) is fixed in ``__init__``: the train loop builds its
    iterator, and workers prefetch, before any hook runs. The infinite index
    stream is the concatenation of permutations of the subset drawn from one
    ``torch.Generator(seed)``, identical on every rank, and each rank takes
    ``stream[rank::world_size]`` (disjoint slices). The stream depends only
    on ``(subset, seed, shuffle)``, so on resume the runner's "skip the first
    ``iter`` batches" reproduces the interrupted run.

    Args:
        dataset: The full training dataset (injected by the Runner).
        indices_file (str, optional): Subset / selection JSON (a list, or an
            object with ``indices`` and ``data_list_hash``; a mismatching
            hash is refused).
        ratio (float, optional): Instead of a file: draw ``ratio`` of the
            dataset with ``subset_seed`` (the same draw as
            ``tools/coido/cluster.py``).
        subset_seed (int): Seed of the ratio draw. Defaults to 0.
        shuffle (bool): Shuffle each pass. Defaults to True.
        seed (int, optional): Shuffle seed (synced across ranks if None).
        check_data_hash (bool): Defaults to True.
    """

    def __init__(self, dataset, indices_file: Optional[str] = None,
                 ratio: Optional[float] = None, subset_seed: int = 0,
                 shuffle: bool = True, seed: Optional[int] = None,
                 check_data_hash: bool = True) -> None:
        super().__init__(dataset, indices_file, ratio, subset_seed, shuffle,
                         seed, check_data_hash)
        self.size = len(self.indices)
        self._stream = self._indices_of_rank()

    def _infinite(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed)
        while True:
            if self.shuffle:
                order = torch.randperm(self.size, generator=g).tolist()
                yield from (self.indices[i] for i in order)
            else:
                yield from self.indices

    def _indices_of_rank(self) -> Iterator[int]:
        yield from itertools.islice(self._infinite(), self.rank, None,
                                    self.world_size)

    def __iter__(self) -> Iterator[int]:
        yield from self._stream

    def __len__(self) -> int:
        return self.size

    def set_epoch(self, epoch: int) -> None:
        """No-op (the stream never restarts), as in ``InfiniteSampler``."""

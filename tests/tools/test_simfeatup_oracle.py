"""SimFeatUp vs bilinear on the real aerial tiles, trained in the test.

Low-resolution features = ground-truth one-hot average-pooled by 16,
upsampled back guided by the real image. One SimFeatUp per leave-group-out
fold is trained with the recipe (SimFeatUpTrainer, label-derived featurizer
whose label channels travel through the jitters) on the other tiles only, at
a small scale (see ``SMALL``), and must beat bilinear on mIoU and boundary-band
mIoU on every held-out tile. The per-tile table is printed (``pytest -s``);
the table of ``experiments/simfeatup_oracle`` is the same procedure
(``tests/fixtures/simfeatup_oracle.py``) with the same settings plus its
constant-guidance ablation.
"""
import time

import pytest
import torch

from conftest import shared_data_path
from fixtures import simfeatup_oracle as oracle

# small-scale recipe: 30 NAdam steps per fold (lr 1e-3; σ_spatial and
# range_temp at 5e-2), batch 4 of 64×64 crops, 5 jitters
SMALL = dict(steps=30, crop=64, batch=4, lr=1e-3, scalar_lr=5e-2)


@pytest.mark.slow
def test_trained_simfeatup_beats_bilinear_on_every_held_out_tile(
        mmseg_scope):
    # plain print, no capsys: mmengine's logger, created during training,
    # would keep a handle on capsys's stream, closed after this test
    data_root = shared_data_path('rs')
    for name, fname, _ in oracle.TILES:
        for path in oracle.tile_paths(data_root, name, fname):
            shared_data_path(path)
    # every tile is evaluated exactly once, never by a model trained on it
    held_out = [i for ev, _ in oracle.FOLDS for i in ev]
    assert sorted(held_out) == list(range(len(oracle.TILES)))
    for ev, tr in oracle.FOLDS:
        assert not set(ev) & set(tr)

    torch.set_num_threads(1)  # restored by conftest's autouse fixture
    t0 = time.time()
    rows = oracle.run(data_root, ablation=False, **SMALL)
    secs = time.time() - t0
    print('\n' + oracle.format_table(
        rows, f'[simfeatup oracle] {SMALL}, total {secs:.0f} s'))
    assert len(rows) == len(oracle.TILES)
    for r in rows:
        for j, metric in enumerate(('mIoU', 'band mIoU')):
            assert r['simfeatup'][j] > r['bilinear'][j], (
                f'{r["tile"]}: SimFeatUp {metric} {r["simfeatup"][j]:.2f} <= '
                f'bilinear {r["bilinear"][j]:.2f}')

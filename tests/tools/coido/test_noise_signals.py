"""The label-noise probes of tools/analysis_tools/coido_noise_signals.py:
hand-computed cases for the dense k-NN label transfer, the cell labels and
the window-overlap mask."""
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))


def _crops(labels):
    """Three crops of 4 cells with identical features (one-hot per cell)."""
    feats = torch.eye(4)[None].repeat(len(labels), 1, 1)
    return feats, np.asarray(labels)


def test_dense_transfer_flags_permuted_labels_only():
    from coido_noise_signals import dense_transfer_margin
    clean = [0, 1, 2, 2]
    permuted = [1, 2, 0, 0]  # the same layout, class ids permuted
    feats, cells = _crops([clean, clean, permuted])
    m = dense_transfer_margin(feats, cells, k=2)
    # crop 2: both voters (crops 0, 1) say "clean" in every cell -> 1 - 0
    assert m[2] == pytest.approx(1.0)
    # crops 0/1: one clean and one permuted voter -> tie, own share = max
    assert m[0] == pytest.approx(0.0) and m[1] == pytest.approx(0.0)


def test_dense_transfer_exclusion_and_ignored_cells():
    from coido_noise_signals import IGNORE, dense_transfer_margin
    feats, cells = _crops([[0, 1, 2, 2], [0, 1, 2, 2], [1, 2, 0, 0]])
    ex = np.zeros((3, 3), bool)
    ex[0, 1] = True  # crop 1 may not vote for crop 0
    m = dense_transfer_margin(feats, cells, k=1, exclude=ex)
    # crop 0 now only hears the permuted crop 2: every cell contradicted
    assert m[0] == pytest.approx(1.0)
    # crop 1 hears crops 0 and 2 (a tie at k = 2): no confident contradiction
    assert dense_transfer_margin(feats, cells, k=2, exclude=ex)[1] == \
        pytest.approx(0.0)
    # an ignored cell is neither scored nor a voter
    feats, cells = _crops([[0, 1, 2, 2], [0, 1, 2, 2], [1, 2, 0, IGNORE]])
    m = dense_transfer_margin(feats, cells, k=1)
    assert m[2] == pytest.approx(1.0)  # its 3 labelled cells, all wrong
    unl = dense_transfer_margin(feats, np.full((3, 4), IGNORE), k=1)
    assert np.all(unl == 0)


def test_cell_labels_majority_and_ignore():
    from coido_noise_signals import IGNORE, cell_labels
    lab = np.full((1, 4, 4), IGNORE)
    lab[0, :2, :2] = [[3, 3], [3, 1]]  # cell 0: majority 3
    lab[0, :2, 2:] = [[1, IGNORE], [IGNORE, IGNORE]]  # cell 1: 1/4 labelled
    lab[0, 2:, :2] = [[2, 2], [IGNORE, IGNORE]]  # cell 2: exactly half
    got = cell_labels(lab, 2)
    assert got.tolist() == [[3, IGNORE, 2, IGNORE]]


def test_overlapping_windows():
    from coido_controlled_experiment import overlapping_windows
    pos = [[0, 0, 0], [0, 0, 63], [0, 0, 64], [1, 0, 0]]
    ov = overlapping_windows(pos, 64)
    assert ov[0].tolist() == [True, True, False, False]
    assert ov[1, 2] and not ov[0, 3]


def test_oracle_semantic_embeddings_undo_the_corruption():
    """Per-cell clean class fractions: a class-permuted copy of a crop
    embeds exactly like the crop (what a semantic encoder would see)."""
    from coido_controlled_experiment import oracle_semantic_embeddings
    lab = np.zeros((4, 4), np.int64)  # PNG values: 0 = ignore, v = class v-1
    lab[:2, :2] = 1
    lab[:2, 2:] = [[2, 2], [3, 3]]
    lab[2:, :2] = 7
    perm = np.array([0, 2, 3, 1, 4, 5, 6, 7])  # saved = perm[clean]
    labels = np.stack([lab, perm[lab]]) - 1  # as train_crops returns them
    maps = [list(range(8)), perm.tolist()]
    e = oracle_semantic_embeddings(labels, maps, grid=2)
    want = np.zeros((4, 7))
    want[0, 0] = 1  # top-left cell: class 0
    want[1, 1] = want[1, 2] = .5  # top-right: half class 1, half class 2
    want[2, 6] = 1  # bottom-left: class 6; bottom-right: all ignored
    want = want.reshape(-1) / np.linalg.norm(want)
    assert e.shape == (2, 28)
    np.testing.assert_allclose(e[0].numpy(), want, atol=1e-6)
    np.testing.assert_allclose(e[1].numpy(), want, atol=1e-6)
    noisy = oracle_semantic_embeddings(labels, maps, noise=0.5)
    assert not torch.allclose(noisy[0], noisy[1])  # independent noise
    assert torch.allclose(noisy.norm(dim=1), torch.ones(2))


def test_embedder_from_file(tmp_path):
    from coido_controlled_experiment import embedder_from_file
    f = tmp_path / 'emb.py'
    f.write_text("embedder = dict(source='module', checkpoint='w.pth', "
                 "module=dict(type='DenseCLIPViT', arch='ViT-B-16'))\n")
    e = embedder_from_file(str(f))
    assert e == dict(source='module', checkpoint='w.pth',
                     module=dict(type='DenseCLIPViT', arch='ViT-B-16'))
    f.write_text('model = dict(type="X")\n')
    with pytest.raises(KeyError, match='must define `embedder'):
        embedder_from_file(str(f))
    with pytest.raises(FileNotFoundError, match='--embedder-file'):
        embedder_from_file(str(tmp_path / 'none.py'))


def test_independent_neighbours_count_a_group_of_copies_once():
    """Rows 1-3 are copies of one window (mutually excluded) and nearest to
    row 0: only the nearest copy is a neighbour, then row 4; a row excluded
    with the query is never one."""
    from coido_noise_signals import independent_neighbours
    emb = torch.tensor([[1., 0.], [1., .1], [1., .2], [1., .3], [1., 1.],
                        [0., 1.]])
    ex = np.zeros((6, 6), bool)
    for i in (1, 2, 3):
        for j in (1, 2, 3):
            ex[i, j] = i != j
    ex[0, 4] = ex[4, 0] = True  # 4 shares pixels with 0
    nbr = independent_neighbours(emb, ex, k=2)
    assert nbr[0].tolist() == [1, 5]
    # row 5: its nearest are 4, then the copies (3 nearest of them)
    assert nbr[5].tolist() == [4, 3]
    # fewer independent rows than k: the nearest allowed rows fill up
    assert independent_neighbours(emb, ex, k=3)[0].tolist() == [1, 5, 2]
    # row 1 may only have 0, 4 and 5 (2 and 3 are its copies)
    with pytest.raises(ValueError, match='row 1 has only 3 allowed'):
        independent_neighbours(emb, ex, k=4)


def test_label_disagreement_matches_the_guard_signal():
    """The refactored per-row formula gives knn_label_inconsistency's value
    when fed its neighbours, and the hand value for a contradicted row."""
    from ovseg_plugins.coido.utils.safeguards import (
        knn_label_inconsistency, label_disagreement)
    hist = torch.tensor([[1., 0.], [1., 0.], [1., 0.], [0., 1.]])
    emb = torch.tensor([[1., 0.], [1., .1], [1., .2], [1., .05]])
    got = label_disagreement(hist, torch.arange(4),
                             torch.tensor([[3, 1], [3, 0], [1, 3], [0, 1]]))
    # row 3: neighbours agree (base 0), mean hist (1, 0) vs its (0, 1) -> 1
    assert got[3] == pytest.approx(1.0)
    ref = knn_label_inconsistency(emb, hist, k=3)
    full = label_disagreement(hist, torch.arange(4), torch.tensor(
        [[3, 1, 2], [3, 0, 2], [1, 3, 0], [0, 1, 2]]))
    assert np.allclose(ref, full.numpy())


def test_controlled_set_seed_changes_the_set_not_its_structure(tmp_path):
    """``--set-seed``: another seed draws other windows / corruptions with
    the same 60/28/12 % structure; the same seed rebuilds the same set."""
    from conftest import shared_data_path
    from coido_controlled_experiment import build_controlled_dataset
    src = shared_data_path('rs', 'loveda')
    a = build_controlled_dataset(src, str(tmp_path / 'a'), n=50, seed=0)
    b = build_controlled_dataset(src, str(tmp_path / 'b'), n=50, seed=1)
    a2 = build_controlled_dataset(src, str(tmp_path / 'a2'), n=50, seed=0)
    for m in (a, b):
        assert [m['kinds'].count(k) for k in ('easy', 'informative',
                                              'corrupted')] == [30, 14, 6]
    assert a2['positions'] == a['positions'] and \
        a2['label_maps'] == a['label_maps']
    assert b['positions'] != a['positions']
    assert b['easy_anchors'] != a['easy_anchors']
    # the held-out crops do not depend on the seed
    assert b['n_val'] == a['n_val'] > 0

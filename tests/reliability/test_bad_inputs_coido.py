"""Bad inputs of CoIDO: feature banks, cluster files, subset/selection
files and the ``coido`` settings. Each case is one ``pytest.param`` whose
first element is its one-line description (the docs/bad_inputs.md row), then
the input maker, the exact error type and the strings the message must
contain (the file or field it names, and the fix)."""
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.registry import MODELS

from coido._helpers import ListDataset
from rel_helpers import check_error

N = 6


@MODELS.register_module(force=True)
class _BadInputsToyModel(BaseModel):
    """The smallest model CoIDOSegmentor can wrap (clusters-file cases)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.lin(inputs)


def _bank_obj(n=N, **edit):
    from ovseg_plugins.coido.utils import bank_stamp, data_list_hash
    g = torch.Generator().manual_seed(0)
    obj = dict(embeddings=torch.randn(n, 4, generator=g),
               stats=torch.rand(n, 2, generator=g),
               class_hist=torch.full((n, 3), 1 / 3),
               valid=torch.ones(n, dtype=torch.bool),
               valid_frac=torch.ones(n),
               data_list_hash=data_list_hash(ListDataset(n)))
    obj['bank_stamp'] = bank_stamp(obj['embeddings'], obj['stats'],
                                   obj['data_list_hash'])
    for k, v in edit.items():
        if v is _DROP:
            obj.pop(k)
        else:
            obj[k] = v(obj) if callable(v) else v
    return obj


_DROP = object()


def _write_bank(tmp_path, obj, name='feature_bank.pt'):
    p = tmp_path / name
    torch.save(obj, p)
    return str(p)


def _nan_embeddings(o):
    e = o['embeddings'].clone()
    e[2, 1] = float('nan')
    return e


def _edited_embeddings(o):
    return o['embeddings'] + 1  # the stamp still describes the old content


# ------------------------------------------------------------ feature bank
def _load_bank(tmp_path, **edit):
    from ovseg_plugins.coido.utils import load_feature_bank
    return lambda: load_feature_bank(_write_bank(tmp_path, _bank_obj(
        **edit)))


def _bank_bytes(tmp_path, data):
    from ovseg_plugins.coido.utils import load_feature_bank
    p = tmp_path / 'feature_bank.pt'
    p.write_bytes(data)
    return lambda: load_feature_bank(str(p))


def _bank_missing(tmp_path):
    from ovseg_plugins.coido.utils import load_feature_bank
    return lambda: load_feature_bank(str(tmp_path / 'feature_bank.pt'))


def _bank_not_dict(tmp_path):
    from ovseg_plugins.coido.utils import load_feature_bank
    p = _write_bank(tmp_path, [1, 2, 3])
    return lambda: load_feature_bank(p)


def _bank_rows_vs_dataset(tmp_path):
    """The selection hook: an 8-row bank for a 6-sample training set."""
    from ovseg_plugins.coido.hooks import CoIDOSelectionHook

    class Model:
        bank_valid = torch.ones(8, dtype=torch.bool)
        bank_path = str(tmp_path / 'feature_bank.pt')
        data_list_hash = 'x'

        def score_bank(self):
            raise AssertionError('must not score')

    return lambda: CoIDOSelectionHook().select(Model(), ListDataset(N),
                                               str(tmp_path))


BANK = 'feature_bank.pt'
FIX_EX = 'extract_features.py'
BANK_CASES = [
    pytest.param('feature bank file missing', _bank_missing,
                 FileNotFoundError, (BANK, FIX_EX), id='bank_missing'),
    pytest.param('feature bank is not a torch file (random bytes)',
                 lambda t: _bank_bytes(t, b'not a torch file'), ValueError,
                 (BANK, 'cannot be read', FIX_EX), id='bank_not_torch'),
    pytest.param('feature bank holds a list instead of a dict',
                 _bank_not_dict, TypeError, (BANK, 'not a dict', FIX_EX),
                 id='bank_not_dict'),
    pytest.param('feature bank without the embeddings field',
                 lambda t: _load_bank(t, embeddings=_DROP), KeyError,
                 (BANK, "'embeddings'", FIX_EX), id='bank_no_embeddings'),
    pytest.param('feature bank embeddings contain NaN',
                 lambda t: _load_bank(t, embeddings=_nan_embeddings),
                 ValueError, (BANK, "'embeddings'", 'NaN/inf in 1 of 6'),
                 id='bank_embeddings_nan'),
    pytest.param('feature bank embeddings are 1-D (N,) instead of (N, D)',
                 lambda t: _load_bank(t, embeddings=torch.zeros(N)),
                 ValueError, (BANK, "'embeddings'", '(N, D)', '(6,)'),
                 id='bank_embeddings_1d'),
    pytest.param('feature bank stats have another row count than the '
                 'embeddings',
                 lambda t: _load_bank(t, stats=torch.zeros(N - 1, 2)),
                 ValueError, (BANK, "'stats'", 'N = 6', '(5, 2)'),
                 id='bank_stats_rows'),
    pytest.param('feature bank class histogram with negative fractions',
                 lambda t: _load_bank(t, class_hist=-torch.ones(N, 3)),
                 ValueError, (BANK, "'class_hist'", 'negative'),
                 id='bank_class_hist_negative'),
    pytest.param('feature bank labelled fraction outside [0, 1]',
                 lambda t: _load_bank(t, valid_frac=torch.full((N, ), 2.)),
                 ValueError, (BANK, "'valid_frac'", '[0, 1]'),
                 id='bank_valid_frac_range'),
    pytest.param('feature bank data_list_hash is not a string',
                 lambda t: _load_bank(t, data_list_hash=7), TypeError,
                 (BANK, "'data_list_hash'", 'string'),
                 id='bank_hash_not_str'),
    pytest.param('feature bank edited after writing (content no longer '
                 'matches its stamp)',
                 lambda t: _load_bank(t, embeddings=_edited_embeddings),
                 ValueError, (BANK, "'bank_stamp'", FIX_EX),
                 id='bank_stamp_mismatch'),
    pytest.param('feature bank rows differ from the training-set size',
                 _bank_rows_vs_dataset, ValueError,
                 (BANK, "'embeddings'", '8 rows', '6 samples', FIX_EX),
                 id='bank_rows_vs_dataset'),
]


# ----------------------------------------------------------- clusters file
def _clusters(tmp_path, edit=None, bank_edit=None):
    """CoIDOSegmentor(clusters=...) with a cluster file for the bank."""
    from ovseg_plugins.coido.models import CoIDOSegmentor
    bank = _bank_obj(**(bank_edit or {}))
    bp = _write_bank(tmp_path, bank)
    obj = dict(phase='cluster', data_list_hash=bank['data_list_hash'],
               bank_stamp=bank['bank_stamp'],
               clusters={'0': 0, '3': 1, '5': 1},
               assignments=[0, 0, 1, 1, 0, 1])
    if edit:
        obj = edit(obj)
    cp = tmp_path / 'clusters.json'
    cp.write_text(json.dumps(obj))
    return lambda: CoIDOSegmentor(segmentor=dict(type='_BadInputsToyModel'),
                                  feature_bank=bp, clusters=str(cp))


def _set(**kv):
    def f(o):
        o = dict(o)
        for k, v in kv.items():
            if v is _DROP:
                o.pop(k)
            else:
                o[k] = v
        return o
    return f


def _train_outside_the_clusters(tmp_path):
    """Phase 1 on a batch with a sample the clusters file does not list."""
    from mmengine.structures import BaseDataElement
    model = _clusters(tmp_path)()
    samples = [BaseDataElement(metainfo=dict(sample_idx=i)) for i in (0, 1)]
    return lambda: model.loss(torch.zeros(2, 2), samples)


CL = 'clusters.json'
FIX_CL = 'cluster.py'
CLUSTER_CASES = [
    pytest.param('clusters file without the clusters field',
                 lambda t: _clusters(t, _set(clusters=_DROP)), KeyError,
                 (CL, '"clusters"', FIX_CL), id='clusters_no_field'),
    pytest.param('clusters file with an empty clusters object',
                 lambda t: _clusters(t, _set(clusters={})), ValueError,
                 (CL, '"clusters"', 'non-empty'), id='clusters_empty'),
    pytest.param('clusters file with a negative cluster id',
                 lambda t: _clusters(t, _set(clusters={'0': -1, '3': 1})),
                 ValueError, (CL, '"clusters"', 'sample 0', '-1'),
                 id='clusters_negative_id'),
    pytest.param('clusters file with a non-integer cluster id',
                 lambda t: _clusters(t, _set(clusters={'0': 'a'})),
                 ValueError, (CL, '"clusters"', "'a'"),
                 id='clusters_id_not_int'),
    pytest.param('clusters file naming a sample beyond the bank',
                 lambda t: _clusters(t, _set(clusters={'0': 0, '9': 1})),
                 ValueError, (CL, '"clusters"', 'sample 9', '6 samples'),
                 id='clusters_sample_out_of_range'),
    pytest.param('clusters file with a non-numeric sample key',
                 lambda t: _clusters(t, _set(clusters={'x': 0})),
                 ValueError, (CL, '"clusters"', "'x'"),
                 id='clusters_key_not_index'),
    pytest.param('clusters file assignments of the wrong length',
                 lambda t: _clusters(t, _set(assignments=[0, 1])),
                 ValueError, (CL, '"assignments"', '(6)', 'got 2'),
                 id='clusters_assignments_length'),
    pytest.param('clusters file assignments with a missing (null) entry',
                 lambda t: _clusters(t, _set(
                     assignments=[0, None, 1, 1, 0, 1])),
                 ValueError, (CL, '"assignments"', 'missing or negative'),
                 id='clusters_assignments_missing'),
    pytest.param('clusters file assignments with a negative entry',
                 lambda t: _clusters(t, _set(
                     assignments=[0, 0, -1, 1, 0, 1])),
                 ValueError, (CL, '"assignments"', 'missing or negative'),
                 id='clusters_assignments_negative'),
    pytest.param('clusters file made from an earlier feature bank (stale)',
                 lambda t: _clusters(t, _set(bank_stamp='0123456789abcdef')),
                 ValueError, (CL, "'bank_stamp'", 'stale', FIX_CL),
                 id='clusters_stale_bank'),
    pytest.param('clusters file made for another data list',
                 lambda t: _clusters(t, _set(data_list_hash='ffff')),
                 ValueError, (CL, 'different data list', FIX_CL),
                 id='clusters_other_data_list'),
    pytest.param('a selection file given where the clusters file belongs',
                 lambda t: _clusters(t, _set(phase='selection')),
                 ValueError, (CL, "'phase'", "'selection'", "'cluster'"),
                 id='clusters_wrong_phase'),
    pytest.param('clusters file without its data_list_hash (hand-written): '
                 'was accepted',
                 lambda t: _clusters(t, _set(data_list_hash=_DROP)),
                 ValueError, (CL, "no 'data_list_hash' field",
                              'which data list', FIX_CL),
                 id='clusters_no_data_list_hash'),
    pytest.param('clusters file made for another subset than the one '
                 'phase 1 trains on (was: those samples silently got no '
                 'cluster)', _train_outside_the_clusters, ValueError,
                 (CL, 'no cluster for sample 1', 'lists 3 of',
                  "'subset_seed'", FIX_CL), id='clusters_other_subset'),
    pytest.param('clusters file that is not JSON',
                 lambda t: _clusters_text(t, '{"clusters": '), ValueError,
                 (CL, 'not valid JSON'), id='clusters_not_json'),
]


def _clusters_text(tmp_path, text):
    from ovseg_plugins.coido.models import CoIDOSegmentor
    bp = _write_bank(tmp_path, _bank_obj())
    cp = tmp_path / 'clusters.json'
    cp.write_text(text)
    return lambda: CoIDOSegmentor(segmentor=dict(type='_BadInputsToyModel'),
                                  feature_bank=bp, clusters=str(cp))


# ------------------------------------------------ subset / selection files
def _sampler(tmp_path, content):
    from ovseg_plugins.coido.samplers import IndexSubsetSampler
    p = tmp_path / 'selected.json'
    p.write_text(content if isinstance(content, str) else
                 json.dumps(content))
    return lambda: IndexSubsetSampler(ListDataset(N), indices_file=str(p),
                                      seed=0)


def _phase2(tmp_path, edit):
    """run_coido's check before phase 2 on a selection file."""
    from ovseg_plugins.coido.apis import check_phase_inputs, coido_paths
    bank = _bank_obj()
    _write_bank(tmp_path, bank)
    obj = edit(dict(phase='selection', data_list_hash=bank['data_list_hash'],
                    bank_stamp=bank['bank_stamp'], indices=[1, 4]))
    (tmp_path / 'selected.json').write_text(json.dumps(obj))
    return lambda: check_phase_inputs('phase2', coido_paths(str(tmp_path)))


SEL = 'selected.json'
SEL_CASES = [
    pytest.param('selection file whose indices field is not a list',
                 lambda t: _sampler(t, dict(indices=3)), ValueError,
                 (SEL, '"indices"', 'list'), id='selected_indices_not_list'),
    pytest.param('selection file with non-integer indices',
                 lambda t: _sampler(t, dict(indices=[1, 2.5])), ValueError,
                 (SEL, '"indices"', 'integer'), id='selected_not_int'),
    pytest.param('selection file with a duplicated index',
                 lambda t: _sampler(t, [1, 1, 2]), ValueError,
                 (SEL, 'duplicates'), id='selected_duplicates'),
    pytest.param('selection file with an empty index list',
                 lambda t: _sampler(t, []), ValueError, (SEL, 'empty'),
                 id='selected_empty'),
    pytest.param('selection file with a negative index',
                 lambda t: _sampler(t, [0, -2]), ValueError,
                 (SEL, '[-2]', 'out of range'), id='selected_negative'),
    pytest.param('selection file that is not JSON',
                 lambda t: _sampler(t, '[1, 2'), ValueError,
                 (SEL, 'not valid JSON'), id='selected_not_json'),
    pytest.param('selection file from an earlier feature bank (stale), '
                 'checked before phase 2',
                 lambda t: _phase2(t, _set(bank_stamp='0123456789abcdef')),
                 ValueError, (SEL, "'bank_stamp'", 'stale', 'phase1'),
                 id='selected_stale_bank'),
    pytest.param('selection file without a stamp (hand-written), checked '
                 'before phase 2',
                 lambda t: _phase2(t, _set(bank_stamp=_DROP)), ValueError,
                 (SEL, "'bank_stamp'", 'phase1'), id='selected_no_stamp'),
    pytest.param('a subset file given where the selection belongs, '
                 'checked before phase 2',
                 lambda t: _phase2(t, _set(phase='cluster')), ValueError,
                 (SEL, "'phase'", "'cluster'"), id='selected_wrong_phase'),
]


# --------------------------------------------------------- coido settings
def _settings(coido=None, overrides=None):
    from mmengine.config import Config

    from ovseg_plugins.coido.apis import coido_settings
    cfg = Config(dict(coido=coido) if coido is not None else {})
    return lambda: coido_settings(cfg, overrides)


def _sampler_type(tmp_path):
    from mmengine.config import Config

    from ovseg_plugins.coido.apis import set_subset_sampler
    cfg = Config(dict(train_dataloader=dict(sampler=dict(
        type='WeightedRandomSampler'))))
    return lambda: set_subset_sampler(cfg, 'x.json', 'phase 2')


def _missing_data(tmp_path):
    from mmengine.config import Config

    from ovseg_plugins.coido.apis.feature_extraction import \
        build_extract_dataset
    import ovseg_plugins.seg2d  # noqa: F401  (mmseg registries)
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='LoveDADataset', data_root='data/loveDA_absent',
        data_prefix=dict(img_path='img_dir/train',
                         seg_map_path='ann_dir/train')))))

    def call():
        from mmengine.registry import DefaultScope
        with DefaultScope.overwrite_default_scope('mmseg'):
            build_extract_dataset(cfg, [])
    return call


SETTINGS_CASES = [
    pytest.param('unknown key in the coido section',
                 lambda t: _settings(dict(budget=0.2)), KeyError,
                 ("coido: unknown keys ['budget']", 'selection'),
                 id='settings_unknown_key'),
    pytest.param('misspelled key in coido.cluster',
                 lambda t: _settings(dict(cluster=dict(n_cluster=5))),
                 KeyError, ('coido.cluster', "'n_cluster'", 'n_clusters'),
                 id='settings_cluster_typo'),
    pytest.param('subset ratio outside (0, 1]',
                 lambda t: _settings(overrides=dict(cluster=dict(
                     ratio=1.5))), ValueError,
                 ('coido.cluster.ratio', '(0, 1]'), id='settings_ratio'),
    pytest.param('zero clusters requested',
                 lambda t: _settings(dict(cluster=dict(n_clusters=0))),
                 ValueError, ('coido.cluster.n_clusters', '>= 1'),
                 id='settings_zero_clusters'),
    pytest.param('selection budget of 0',
                 lambda t: _settings(dict(selection=dict(budget=0.))),
                 ValueError, ('budget', '(0, 1]'), id='settings_budget_zero'),
    pytest.param("selection budget written as a string ('0.2'): was a raw "
                 'int() error',
                 lambda t: _settings(dict(selection=dict(budget='0.2'))),
                 TypeError, ('coido.selection.budget', "got '0.2'",
                             'write budget=0.2 without quotes'),
                 id='settings_budget_string'),
    pytest.param('selection budget of None',
                 lambda t: _settings(dict(selection=dict(budget=None))),
                 TypeError, ('coido.selection.budget', 'got None',
                             'ratio in (0, 1]'),
                 id='settings_budget_none'),
    pytest.param('phase-1 passes of 0',
                 lambda t: _settings(dict(phase1=dict(passes=0))),
                 ValueError, ('coido.phase1.passes', '>= 1'),
                 id='settings_passes_zero'),
    pytest.param('coido.selection given as a list',
                 lambda t: _settings(dict(selection=[0.2])), TypeError,
                 ('coido.selection', 'dict'), id='settings_section_type'),
    pytest.param('min_valid_fraction outside [0, 1]',
                 lambda t: _settings(dict(selection=dict(
                     min_valid_fraction=3))), ValueError,
                 ('min_valid_fraction', '[0, 1]'),
                 id='settings_min_valid_fraction'),
    pytest.param('a train sampler CoIDO cannot restrict to a subset',
                 _sampler_type, ValueError,
                 ('phase 2', 'train_dataloader.sampler', 'WeightedRandom'),
                 id='settings_sampler_type'),
    pytest.param('a config whose training data is not where data_root says '
                 '(stock config, no data yet)', _missing_data,
                 FileNotFoundError,
                 ("data_root is 'data/loveDA_absent'", '--cfg-options '
                  'data_root=/path/to/data'), id='extract_data_missing'),
]


@pytest.mark.parametrize('desc,make,exc,needles',
                         BANK_CASES + CLUSTER_CASES + SEL_CASES +
                         SETTINGS_CASES)
def test_bad_coido_input(tmp_path, desc, make, exc, needles):
    call = make(tmp_path)
    with pytest.raises(exc) as e:
        call()
    check_error(e.value, exc, needles, desc)


def test_failed_selection_leaves_no_selected_json(tmp_path):
    """A phase 1 whose selection fails must not leave the previous run's
    selected.json for phase 2: the hook removes it before training, and a
    selection that raises writes nothing."""
    from ovseg_plugins.coido.hooks import CoIDOSelectionHook
    from ovseg_plugins.coido.utils import data_list_hash as hash_of
    old = tmp_path / 'selected.json'
    old.write_text(json.dumps(dict(indices=[0, 1])))
    (tmp_path / 'coido_scores.json').write_text('{}')

    class Runner:
        work_dir = str(tmp_path)

    hook = CoIDOSelectionHook(out_dir=str(tmp_path))
    hook.before_train(Runner())
    assert not old.exists() and not (tmp_path / 'coido_scores.json').exists()
    ds = ListDataset(N)

    class Model:  # a scorer that diverged
        bank_valid = torch.ones(N, dtype=torch.bool)
        bank_path = 'feature_bank.pt'
        data_list_hash = hash_of(ds)

        def score_bank(self):
            return torch.tensor([0., np.nan, 1, 2, 3, 4])

    with pytest.raises(ValueError, match='NaN'):
        hook.select(Model(), ds, str(tmp_path))
    assert not old.exists()
    assert not list(tmp_path.glob('.tmp_*'))

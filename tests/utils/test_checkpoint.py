"""The safe loader: what loads with weights_only=True (mmengine Runner
checkpoints, numpy data, TorchScript weights) and the allow-list's limits.
Hostile files at every entry point: tests/reliability/
test_bad_inputs_checkpoints.py."""
import sys
import zipfile

import numpy as np
import pytest
import torch
import torch.nn as nn

from conftest import REPO_ROOT, run_py
from fixtures.tiny_models import TINY_CLIP_CFG, TINY_CLIP_NAME


def _runner_checkpoint(tmp_path):
    """What mmengine 0.10.7's Runner writes after 2 SGD iterations with a
    scheduler (message_hub HistoryBuffers, numpy scalars, meta)."""
    from mmengine.config import ConfigDict
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Toy(BaseModel):

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            y = self.lin(torch.stack(inputs))
            return dict(loss=y.pow(2).mean()) if mode == 'loss' else y

    class DS(torch.utils.data.Dataset):
        # a metainfo given in a config reaches the dataset as a ConfigDict
        # (mmdet3d's label2cat): mmengine saves it in meta['dataset_meta']
        metainfo = dict(classes=('a', 'b'),
                        label2cat=ConfigDict({0: 'a', 1: 'b'}))

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return dict(inputs=torch.full((2, ), float(i)))

    runner = Runner(
        model=Toy(), work_dir=str(tmp_path / 'wd'),
        train_dataloader=dict(dataset=DS(), batch_size=2, sampler=dict(
            type='DefaultSampler', shuffle=False)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=.9)),
        param_scheduler=dict(type='LinearLR', by_epoch=False, end=2),
        train_cfg=dict(by_epoch=False, max_iters=2),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           by_epoch=False, interval=2)),
        randomness=dict(seed=0))
    runner.train()
    return str(tmp_path / 'wd' / 'iter_2.pth')


def test_runner_checkpoint_loads_with_weights_only(tmp_path):
    from mmengine.logging import HistoryBuffer

    from ovseg_plugins.utils import load_torch_file
    p = _runner_checkpoint(tmp_path)
    ck = load_torch_file(p)
    assert ck['meta']['iter'] == 2
    buf = ck['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer) and len(buf.data[0]) == 2
    assert buf.mean() == pytest.approx(float(np.mean(buf.data[0])))
    assert isinstance(ck['meta']['cfg'], str)  # kept as text, never run
    assert ck['meta']['dataset_meta']['label2cat'] == {0: 'a', 1: 'b'}
    # torch's own default (what mmengine's load_checkpoint/resume call)
    torch.load(p, map_location='cpu')


PLAIN = ("import sys, torch\n"
         "p = sys.argv[1]\n"
         "{imports}"
         "try:\n"
         "    ck = torch.load(p, map_location='cpu')\n"
         "    print('loaded', ck['meta']['iter'])\n"
         "except Exception as e:\n"
         "    print('refused', type(e).__name__)\n")


def test_plain_script_loads_after_custom_imports(tmp_path):
    """A script that imports nothing of ours but what a config's
    custom_imports does (ovseg_plugins.seg2d) loads a Runner checkpoint
    with torch's default weights_only=True; without it torch refuses."""
    p = _runner_checkpoint(tmp_path)
    without = run_py(['-c', PLAIN.format(imports=''), p], cwd=str(tmp_path))
    assert 'refused UnpicklingError' in without.stdout, without.stderr
    plain = run_py(['-c', PLAIN.format(
        imports='import ovseg_plugins.seg2d\n'), p], cwd=str(tmp_path))
    assert 'loaded 2' in plain.stdout, plain.stderr[-2000:]


def test_numpy_data_loads(tmp_path):
    from ovseg_plugins.utils import load_torch_file
    obj = dict(a=np.arange(4, dtype=np.int16), s=np.float64(2.5),
               e=np.zeros((0, 3), np.float32),
               o=np.array(['x', 'yz'], dtype=object), d=np.dtype('uint8'),
               t=torch.ones(3))
    p = tmp_path / 'np.pth'
    torch.save(obj, p)
    got = load_torch_file(str(p))
    np.testing.assert_array_equal(got['a'], obj['a'])
    assert got['s'] == 2.5 and list(got['o']) == ['x', 'yz']
    assert got['d'] == np.uint8 and torch.equal(got['t'], obj['t'])
    assert got['e'].shape == (0, 3)


def _checkpoint_with_pickle(tmp_path, name, pkl: bytes) -> str:
    """A torch zip checkpoint whose data.pkl is ``pkl``."""
    torch.save({}, tmp_path / 'base.pth')
    dst = tmp_path / name
    with zipfile.ZipFile(tmp_path / 'base.pth') as zin, \
            zipfile.ZipFile(dst, 'w') as zout:
        for n in zin.namelist():
            zout.writestr(n, pkl if n.endswith('data.pkl') else zin.read(n))
    return str(dst)


def _getattr_pickle(attr: str) -> bytes:
    return (b'\x80\x02c__builtin__\ngetattr\n'
            b'cmmengine.logging.history_buffer\nHistoryBuffer\n'
            + b'X' + len(attr).to_bytes(4, 'little') + attr.encode()
            + b'\x86R.')


def test_getattr_only_reaches_history_buffer_statistics(tmp_path):
    """HistoryBuffer pickles its statistics methods as getattr(cls, name);
    the allow-list's getattr returns those and nothing else."""
    from mmengine.logging import HistoryBuffer

    from ovseg_plugins.utils import UnsafeCheckpointError, load_torch_file
    ok = _checkpoint_with_pickle(tmp_path, 'ok.pth', _getattr_pickle('min'))
    assert load_torch_file(ok) is HistoryBuffer.min
    bad = _checkpoint_with_pickle(tmp_path, 'bad.pth',
                                  _getattr_pickle('__init__'))
    with pytest.raises(UnsafeCheckpointError) as e:
        load_torch_file(bad)
    assert "getattr(HistoryBuffer, '__init__') is not allowed" in str(
        e.value) and repr(bad) in str(e.value)


class _Mask(nn.Module):
    """A plain tensor attribute (not a parameter or buffer), as in OpenAI's
    CLIP archives' attention blocks."""

    def __init__(self, v):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.attn_mask = torch.full((2, ), float(v))
        self.register_buffer('scale', torch.ones(1))

    def forward(self, x):
        return self.lin(x) * self.scale + self.attn_mask.sum()


class _Two(nn.Module):

    def __init__(self):
        super().__init__()
        self.a, self.b = _Mask(1), _Mask(2)  # two mangled classes
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(self.b(self.a(x)))


def test_torchscript_weights_equal_jit_state_dict(tmp_path):
    """The archive's tensors read without its code equal what torch.jit.load
    gives (parameters and buffers; plain tensor attributes left out)."""
    from ovseg_plugins.utils.torchscript_weights import \
        read_torchscript_state_dict
    p = str(tmp_path / 'two.pt')
    torch.manual_seed(0)
    torch.jit.trace(_Two(), torch.zeros(1, 3)).save(p)
    got = read_torchscript_state_dict(p)
    ref = torch.jit.load(p).state_dict()
    assert list(got) == list(ref) and 'a.attn_mask' not in got
    for k, v in ref.items():
        assert torch.equal(got[k], v), k


def test_torchscript_converter(tmp_path):
    sys.path.insert(0, f'{REPO_ROOT}/tools/model_converters')
    import torchscript2pth

    from ovseg_plugins.utils import load_torch_file
    p, out = str(tmp_path / 'two.pt'), str(tmp_path / 'two.pth')
    torch.jit.trace(_Two(), torch.zeros(1, 3)).save(p)
    torchscript2pth.main([p, out, '--drop', 'head.bias'])
    sd = load_torch_file(out)['state_dict']
    ref = torch.jit.load(p).state_dict()
    assert set(sd) == set(ref) - {'head.bias'}
    assert all(torch.equal(sd[k], ref[k]) for k in sd)


def test_clip_backbone_from_torchscript_archive(tmp_path):
    """A scripted open_clip model (as OpenAI's .pt archives are) gives the
    CLIP backbone exactly the archive's weights."""
    import open_clip

    from ovseg_plugins.utils.open_clip_loader import (build_open_clip,
                                                      register_open_clip_config)
    register_open_clip_config(TINY_CLIP_NAME, TINY_CLIP_CFG)
    torch.manual_seed(1)
    ref = open_clip.create_model(TINY_CLIP_NAME)
    p = str(tmp_path / 'tiny_clip.pt')
    torch.jit.script(ref).save(p)
    model, weights_id = build_open_clip(TINY_CLIP_NAME, pretrained=p,
                                        model_cfg=TINY_CLIP_CFG)
    assert weights_id.startswith('sha256:')
    for k, v in ref.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_pickle_module_is_not_used_unrestricted():
    """No module of the package or its tools calls torch.load with
    weights_only=False or pickle.load."""
    import glob
    import os.path as osp
    files = glob.glob(osp.join(REPO_ROOT, 'ovseg_plugins', '**', '*.py'),
                      recursive=True) + glob.glob(
                          osp.join(REPO_ROOT, 'tools', '**', '*.py'),
                          recursive=True)
    bad = []
    for f in files:
        text = open(f, encoding='utf-8').read()
        for needle in ('weights_only=False', 'pickle.load(',
                       'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', 'fromstring('):
            if needle in text:
                bad.append((osp.relpath(f, REPO_ROOT), needle))
    assert not bad, bad

"""Helpers shared by the reliability tests (subprocess runs of the tools)."""
import os
import os.path as osp
import re
import subprocess
import sys

from conftest import REPO_ROOT, run_py
from fixtures.tiny_models import TINY_CLIP_CFG, TINY_CLIP_NAME

TINY_FCN = osp.join(REPO_ROOT, 'tests', 'fixtures', 'configs',
                    'tiny_fcn_potsdam.py')
THREADS = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')

# a hook module (written next to a test config, imported through
# custom_imports) that SIGKILLs training after iteration `at`, i.e. after
# the CheckpointHook (priority VERY_LOW) of that iteration has saved
KILL_HOOK = '''
import os
import signal

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillAfterIterHook(Hook):
    """SIGKILLs the process after iteration ``at`` (after CheckpointHook)."""
    priority = 'LOWEST'

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), signal.SIGKILL)
'''


def ok(r) -> str:
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    return out


def run_tool(args, env=None, timeout=600):
    """``python tools/<x>.py ...`` single process."""
    return run_py(args, env=dict(THREADS, **(env or {})), timeout=timeout)


def run_dist(script, args, nproc=2, timeout=600):
    """``tools/dist_{train,test}.sh`` with ``nproc`` CPU processes (gloo).

    ``PORT=0``: torchrun's standalone rendezvous binds a free port itself
    and hands it to the workers, so parallel runs never race for a port."""
    e = dict(os.environ, PYTHONUNBUFFERED='1', PYTHON=sys.executable,
             PORT='0', **THREADS)
    cmd = ['bash', osp.join(REPO_ROOT, 'tools', script)] + list(args)
    if script == 'dist_train.sh':
        cmd.insert(3, str(nproc))
    else:
        cmd.insert(4, str(nproc))
    return subprocess.run(cmd, cwd=REPO_ROOT, env=e, capture_output=True,
                          text=True, timeout=timeout)


_METRIC = re.compile(
    r'\b(aAcc|mIoU|mAcc|miou|acc|acc_cls|fgIoU):\s*([0-9.]+|nan)')


def final_metrics(text: str) -> dict:
    """The metrics of the last evaluation line of a mmengine log."""
    lines = [ln for ln in text.splitlines()
             if re.search(r'Iter\((val|test)\)|Epoch\((val|test)\)', ln)
             and _METRIC.search(ln)]
    assert lines, f'no metrics in the log:\n{text[-3000:]}'
    return dict(_METRIC.findall(lines[-1]))


_STAMP = re.compile(r'^\d\d/\d\d \d\d:\d\d:\d\d - mmengine - \w+ - ',
                    re.M)


def per_class_table(text: str) -> str:
    """The last per-class results printed by the metric (mmseg/mmdet3d's
    table after "per class results:", or PointSegMetric's block), without
    log timestamps."""
    text = _STAMP.sub('', text)
    starts = [m.start() for m in re.finditer(
        r'^(per class results:|PointSegMetric \()', text, re.M)]
    assert starts, f'no per-class results in the log:\n{text[-3000:]}'
    block = text[starts[-1]:]
    end = re.search(r'^.*(Iter|Epoch)\((val|test)\)', block, re.M)
    return block[:end.start()] if end else block


def tiny_segearth_config(tmp_path, leaf='configs/segearth/loveda.py'):
    """A SegEarth-OV leaf config with the tiny random CLIP, seeded."""
    p = tmp_path / 'tiny_segearth.py'
    backbone = dict(model_name=TINY_CLIP_NAME, model_cfg=TINY_CLIP_CFG,
                    pretrained=None)
    p.write_text(f"_base_ = [{osp.join(REPO_ROOT, leaf)!r}]\n"
                 f"model = dict(backbone={backbone!r}, "
                 "templates='simple_imagenet')\n"
                 "randomness = dict(seed=0)\n")
    return str(p)


def tiny_geopurify_config(tmp_path, root, with_teacher=True):
    """configs/geopurify/scannet.py shrunk (as in the seg3d e2e test), on
    the oracle features written by ``write_oracle_features``; seeded."""
    leaf = osp.join(REPO_ROOT, 'configs', 'geopurify', 'scannet.py')
    cfg = tmp_path / 'tiny_geopurify.py'
    fused, teacher = str(tmp_path / 'fused'), str(tmp_path / 'teacher')
    cfg.write_text(f"""_base_ = [{leaf!r}]
model = dict(backbone=dict(in_channels=14, hidden_channels=16, embed_dim=8,
                           num_blocks=1),
             fused_channels=8, teacher_channels=8,
             text_embeddings={str(tmp_path / 'text.pt')!r}, knn=16,
             decode_head=dict(knn=16, iterations=3))
load_pts = dict(type='LoadPointsFromFile', coord_type='DEPTH',
                shift_height=False, use_color=True, load_dim=6,
                use_dim=[0, 1, 2, 3, 4, 5])
train_dataloader = dict(num_workers=0, dataset=dict(
    data_root={root!r}, ann_file='scannet_infos.pkl', pipeline=[
        load_pts,
        dict(type='LoadPointFeatures', feature_root={fused!r}, expected_dim=8),
        dict(type='LoadPointFeatures', feature_root={teacher!r},
             expected_dim=8),
        dict(type='Pack3DDetInputs', keys=['points'])]))
test_dataloader = dict(num_workers=0, dataset=dict(
    data_root={root!r}, ann_file='scannet_infos.pkl', pipeline=[
        load_pts,
        dict(type='LoadAnnotations3D', with_bbox_3d=False, with_label_3d=False,
             with_mask_3d=False, with_seg_3d=True),
        dict(type='PointSegClassMapping'),
        dict(type='LoadPointFeatures', feature_root={fused!r}, expected_dim=8),
        dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'])]))
val_dataloader = test_dataloader
train_cfg = dict(max_epochs=2, val_interval=100)
param_scheduler = []
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1),
                     logger=dict(type='LoggerHook', interval=1))
randomness = dict(seed=0, deterministic=True)
""")
    return str(cfg)

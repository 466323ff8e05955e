"""A checkpoint supplies every weight, at every door: mmseg's
``init_model`` / ``inference_model`` and ``MMSegInferencer`` run our config
from a plain script that imports nothing of ours (the config's
``custom_imports`` do), under torch's ``weights_only`` loading, and the
config's ``pretrained`` is never looked up when a checkpoint is given (our
``tools/test.py`` too)."""
import json
import os.path as osp

import pytest
import torch

from conftest import run_py, shared_data_path
from fixtures.tiny_configs import tiny_segearth_config
from reliability.rel_helpers import final_metrics

PLAIN_SCRIPT = '''
import json, sys
import torch
from mmseg.apis import MMSegInferencer, inference_model, init_model
cfg, ckpt, img, out = sys.argv[1:5]
model = init_model(cfg, ckpt, device='cpu')
a = inference_model(model, img).pred_sem_seg.data
inf = MMSegInferencer(model=cfg, weights=ckpt, device='cpu')
b = inf(img, return_datasamples=True).pred_sem_seg.data
torch.save(dict(init_model=a, inferencer=b), out)
print(json.dumps({type(m).__name__: m.weights_source
                  for m in model.modules() if hasattr(m, 'weights_source')}))
'''


def _tiny_config(tmp_path) -> str:
    """configs/segearth/potsdam.py with the tiny CLIP and
    ``pretrained='openai'``: a tag that does not exist for the tiny
    architecture, so any lookup of it fails loudly."""
    cfg = tiny_segearth_config(tmp_path, 'configs/segearth/potsdam.py')
    with open(cfg) as f:
        text = f.read()
    assert "'pretrained': None" in text
    with open(cfg, 'w') as f:
        f.write(text.replace("'pretrained': None", "'pretrained': 'openai'"))
    return cfg


def _checkpoint(cfg: str, path: str) -> torch.nn.Module:
    """A Runner-style checkpoint of the config's model, random weights."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import ovseg_plugins.seg2d  # noqa: F401
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model_cfg = Config.fromfile(cfg).model
    model_cfg.backbone.pretrained = None
    model = MODELS.build(model_cfg).eval()
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=model.dataset_meta)), path)
    return model


def test_checkpoint_replaces_named_weights_in_memory(mmseg_scope, tmp_path):
    """Built with an unresolvable ``pretrained``: nothing is looked up at
    build; a loaded state dict supplies the weights, so nothing is looked
    up later; without one the first forward names the weights."""
    from mmengine.config import Config
    from mmengine.runner.checkpoint import load_state_dict
    from mmseg.registry import MODELS

    from ovseg_plugins.utils import WeightsNotFoundError
    from ovseg_plugins.utils.deferred_weights import ensure_model_weights
    cfg = _tiny_config(tmp_path)
    ref = _checkpoint(cfg, str(tmp_path / 'c.pth'))
    model = MODELS.build(Config.fromfile(cfg).model).eval()
    assert model.backbone.weights_pending
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(WeightsNotFoundError) as e:
        model.whole_inference(x)
    assert "Unknown open_clip weights 'openai'" in str(e.value)
    load_state_dict(model, ref.state_dict())
    ensure_model_weights(model)  # nothing left to load
    assert model.backbone.weights_source == 'checkpoint'
    torch.testing.assert_close(model.whole_inference(x),
                               ref.whole_inference(x))


def test_plain_script_init_model_and_inferencer(tmp_path):
    """mmseg.apis.init_model + inference_model and MMSegInferencer on our
    config (its ``pretrained`` unresolvable), from a script that imports
    only torch and mmseg, run outside the repository: the labels equal
    those of the model the checkpoint was saved from."""
    img = osp.join(shared_data_path('rs', 'potsdam'), 'img_dir', 'val',
                   '2_10_0_0_512_512.png')
    cfg = _tiny_config(tmp_path)
    ref = _checkpoint(cfg, str(tmp_path / 'c.pth'))
    script = tmp_path / 'plain.py'
    script.write_text(PLAIN_SCRIPT)
    out = tmp_path / 'labels.pt'
    r = run_py([str(script), cfg, str(tmp_path / 'c.pth'), img, str(out)],
               cwd=str(tmp_path), env=dict(OMP_NUM_THREADS='1'))
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    sources = json.loads(r.stdout.strip().splitlines()[-1])
    assert sources['DenseCLIPViT'] == 'checkpoint'
    from ovseg_plugins.utils import load_torch_file
    got = load_torch_file(str(out), 'labels')
    from mmengine.config import Config
    from mmseg.apis import inference_model
    ref.cfg = Config.fromfile(cfg)
    want = inference_model(ref, img).pred_sem_seg.data
    assert torch.equal(got['init_model'], want)
    assert torch.equal(got['inferencer'], want)


def test_tools_test_loads_only_the_checkpoint(tmp_path):
    """tools/test.py CONFIG CKPT with an unresolvable ``pretrained``: the
    run never looks it up and evaluates; without the checkpoint the run is
    refused naming the config key."""
    root = shared_data_path('rs', 'potsdam')
    cfg = _tiny_config(tmp_path)
    _checkpoint(cfg, str(tmp_path / 'c.pth'))
    opts = ['--cfg-options', f'test_dataloader.dataset.data_root={root}',
            'test_dataloader.num_workers=0']
    env = dict(OMP_NUM_THREADS='1')
    r = run_py(['tools/test.py', cfg, str(tmp_path / 'c.pth'), '--work-dir',
                str(tmp_path / 'wd')] + opts, env=env)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert "pretrained='openai' is not loaded" in r.stdout + r.stderr
    with_ckpt = final_metrics(r.stdout + r.stderr)
    r = run_py(['tools/test.py', cfg, '--work-dir', str(tmp_path / 'wd2')] +
               opts, env=env)
    assert r.returncode != 0
    assert "Unknown open_clip weights 'openai'" in r.stderr
    assert "model.backbone.pretrained='openai'" in r.stderr
    assert with_ckpt and 'mIoU' in with_ckpt

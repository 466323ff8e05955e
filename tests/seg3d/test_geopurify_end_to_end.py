"""tools/train.py + tools/test.py on configs/geopurify/scannet.py with the
real tiny ScanNet scene and oracle (label-derived) fused/teacher features."""
import re

import pytest

from conftest import run_py, shared_data_path
from fixtures.tiny_configs import tiny_geopurify_config, write_oracle_features


@pytest.mark.slow
def test_geopurify_scannet_train_then_test(tmp_path):
    root = shared_data_path('scannet')
    write_oracle_features(root, tmp_path)
    cfg = tiny_geopurify_config(tmp_path, root, max_epochs=3, ckpt_interval=3,
                                small_pooling=False)
    wd = tmp_path / 'wd'
    r = run_py(['tools/train.py', str(cfg), '--work-dir', str(wd)])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert 'loss_infonce' in r.stdout + r.stderr
    ckpt = wd / 'epoch_3.pth'
    assert ckpt.is_file()
    r = run_py(['tools/test.py', str(cfg), str(ckpt), '--work-dir',
                str(tmp_path / 'test')])
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    m = re.search(r'miou\s*[|:]?\s*([0-9.]+)', out, re.I)
    assert m, out[-3000:]

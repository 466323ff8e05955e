import json
import os.path as osp

import numpy as np
from PIL import Image

from conftest import REPO_ROOT, run_py


def test_demo_offline_random_weights(tmp_path):
    out = tmp_path / 'demo'
    r = run_py(['tools/demo/image_demo.py', 'demo/aerial_demo.png',
                '--classes', 'road,parking lot;building,roof;tree;car',
                '--out-dir', str(out)], env={'HF_HUB_OFFLINE': '1'})
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'random weights: plumbing check only' in r.stdout
    summary = json.loads((out / 'aerial_demo_summary.json').read_text())
    assert summary['random_weights'] is True
    img = np.array(Image.open(osp.join(REPO_ROOT, 'demo', 'aerial_demo.png')))
    labels = np.array(Image.open(summary['label_map']))
    assert labels.shape == img.shape[:2] and labels.max() < 4
    overlay = Image.open(summary['overlay'])
    assert overlay.size[1] == img.shape[0] and overlay.size[0] > img.shape[1]
    assert abs(sum(summary['pixel_fraction'].values()) - 1.0) < 1e-6


def test_demo_missing_image(tmp_path):
    r = run_py(['tools/demo/image_demo.py', str(tmp_path / 'none.png'),
                '--classes', 'a;b', '--out-dir', str(tmp_path)])
    assert r.returncode != 0 and 'none.png' in r.stderr

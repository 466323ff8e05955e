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


def _tiny_config(tmp_path):
    """configs/segearth/openearthmap.py with the tiny random CLIP."""
    from fixtures.tiny_configs import tiny_demo_config
    return tiny_demo_config(tmp_path)


def test_demo_geotiff_path(tmp_path):
    """The synthetic 16-bit B,G,R,NIR scene of `make demo` -> label GeoTIFF
    with the same CRS/transform, nodata kept, quick-look and polygons."""
    import rasterio
    scene = tmp_path / 'scene.tif'
    r = run_py(['tools/demo/make_demo_geotiff.py', 'demo/aerial_demo.png',
                str(scene)])
    assert r.returncode == 0, r.stderr
    out = tmp_path / 'out'
    r = run_py(['tools/demo/image_demo.py', str(scene), '--model',
                _tiny_config(tmp_path), '--classes', 'road;building;tree',
                '--tile-size', '384', '--scores', '--polygons', 'geojson',
                '--out-dir', str(out)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'random weights: plumbing check only' in r.stdout
    # the RGB reading is decided (band descriptions blue, green, red, nir)
    # and said before inference
    assert 'RGB = bands 3 2 1 as R G B (band descriptions)' in r.stdout
    summary = json.loads((out / 'scene_summary.json').read_text())
    assert summary['bands'] == [3, 2, 1] and summary['windows'] == 12
    assert summary['rgb']['rule'] == 'band descriptions'
    with rasterio.open(scene) as a, rasterio.open(out /
                                                  'scene_labels.tif') as b:
        assert (a.crs, a.transform, a.shape) == (b.crs, b.transform, b.shape)
        nodata = a.read_masks(1) == 0
        labels = b.read(1)
    assert nodata.sum() > 0 and (labels[nodata] == 255).all()
    assert labels[~nodata].max() < 3
    ql = np.array(Image.open(out / 'scene_quicklook.png'))
    assert ql.shape == labels.shape + (4, ) and (ql[nodata][:, 3] == 0).all()
    gj = json.loads((out / 'scene_polygons.geojson').read_text())
    assert len(gj['features']) == summary['num_polygons'] > 0
    assert all(0 < f['properties']['mean_score'] <= 1
               for f in gj['features'])
    from ovseg_plugins.apis.raster import cog_layout_problems
    assert cog_layout_problems(str(out / 'scene_labels.tif')) == []
    assert cog_layout_problems(str(out / 'scene_scores.tif')) == []
    manifest = json.loads((out / 'ovseg_run.json').read_text())
    assert manifest['jobs']['scene']['status'] == 'done'


def test_demo_named_weights_missing_is_an_error_not_random(tmp_path):
    """Weights the user named must exist: no silent random fallback (that
    is kept for the config's default weights only)."""
    out = tmp_path / 'demo'
    r = run_py(['tools/demo/image_demo.py', 'demo/aerial_demo.png',
                '--classes', 'road;tree', '--weights',
                str(tmp_path / 'typo.pt'), '--out-dir', str(out)],
               env={'HF_HUB_OFFLINE': '1'})
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('--weights: ') and 'typo.pt' in last
    assert 'give --weights an existing file' in last
    assert 'Traceback' not in r.stderr and not out.exists()


def test_demo_without_classes_names_the_flag(tmp_path):
    r = run_py(['tools/demo/image_demo.py', 'demo/aerial_demo.png',
                '--out-dir', str(tmp_path)], env={'HF_HUB_OFFLINE': '1'})
    assert r.returncode != 0 and 'Traceback' not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(
        "--classes is needed: the model 'segearth' names no classes")

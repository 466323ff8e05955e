import copy
import json

import numpy as np
import pytest
import torch

pytest.importorskip('rasterio')

from raster_helpers import (pointwise_probs, run_pointwise,  # noqa: E402,F401
                            write_raster)


def test_window_grid_partitions_the_raster_on_the_slide_grid():
    from ovseg_plugins.apis.raster import WindowGrid
    from ovseg_plugins.seg2d.models.utils import slide_windows
    g = WindowGrid(1100, 1500, (224, 224), (112, 112), 1024)
    assert g.step == (784, 784) and len(g) == 4
    cover = np.zeros((1100, 1500), int)
    grid = {(a, c) for a, _, c, _ in slide_windows(1100, 1500, (224, 224),
                                                   (112, 112))}
    for w in range(len(g)):
        y0, y1, x0, x1 = g.region(w)
        cover[y0:y1, x0:x1] += 1
        ys, xs = g.crops(w)
        assert {(y, x) for y in ys for x in xs} <= grid  # the global grid
        # every crop of the grid touching the window is used, no other
        assert ys == sorted(y for y in g.ystarts if y < y1 and y + 224 > y0)
    assert (cover == 1).all()  # disjoint, covering
    assert [list(WindowGrid.share(10, r, 4)) for r in range(4)] == [
        [0, 1], [2, 3, 4], [5, 6], [7, 8, 9]]
    small = WindowGrid(100, 80, (224, 224), (112, 112), 1024)  # < one crop
    assert len(small) == 1 and small.context(0) == (0, 100, 0, 80)


def test_crs_transform_kept_and_windows_equal_whole_image(tmp_path):
    """A per-pixel model through the windows equals the whole image; the
    output is a valid COG with the colour table, tags and nodata."""
    import rasterio

    from ovseg_plugins.apis.raster import cog_layout_problems
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (3, 601, 557), dtype=np.uint8)
    tr = write_raster(tmp_path / 'in.tif', data)
    res = run_pointwise(tmp_path / 'in.tif', tmp_path / 'out.tif',
                        tile_size=96, scores=str(tmp_path / 's.tif'),
                        quicklook=str(tmp_path / 'q.png'))
    assert res['windows'] == 7 * 6 == res['computed_windows']
    with rasterio.open(tmp_path / 'out.tif') as ds:
        assert ds.crs.to_string() == 'EPSG:32632' and ds.transform == tr
        assert (ds.width, ds.height, ds.count) == (557, 601, 1)
        assert ds.nodata == 255 and ds.colormap(1)[1] == (0, 255, 0, 255)
        assert ds.tags()['classes'] == 'a,b,c'
        assert ds.block_shapes == [(256, 256)] and ds.overviews(1) == [2, 4]
        labels = ds.read(1)
        ov = ds.read(1, out_shape=(301, 279))  # the overview (nearest)
    probs = pointwise_probs(data.transpose(1, 2, 0))
    assert np.array_equal(labels, probs.argmax(0))
    assert set(np.unique(ov)) <= {0, 1, 2}
    with rasterio.open(tmp_path / 's.tif') as ds:
        assert ds.nodata == 0 and ds.overviews(1) == [2, 4]
        scores = ds.read(1)
    assert np.abs(scores - np.clip(np.rint(probs.max(0) * 255), 1,
                                   255)).max() == 0
    assert cog_layout_problems(str(tmp_path / 'out.tif')) == []
    assert cog_layout_problems(str(tmp_path / 's.tif')) == []
    from PIL import Image
    q = np.array(Image.open(tmp_path / 'q.png'))
    assert q.shape == (601, 557, 4) and (q[..., 3] == 255).all()
    assert not (tmp_path / '.ovseg_parts').exists()  # parts removed


def test_cog_check_catches_a_plain_geotiff(tmp_path):
    from ovseg_plugins.apis.raster import cog_layout_problems
    write_raster(tmp_path / 'plain.tif', np.zeros((1, 700, 600), np.uint8))
    problems = cog_layout_problems(str(tmp_path / 'plain.tif'))
    assert 'the main image is not tiled' in problems
    assert '600x700 px without overviews' in problems


def test_nodata_kept_and_empty_windows_skipped(tmp_path):
    import rasterio
    data = np.full((3, 200, 200), 100, np.uint8)
    data[:, :, :90] = 0  # nodata: the left 90 columns
    write_raster(tmp_path / 'in.tif', data, nodata=0)
    res = run_pointwise(tmp_path / 'in.tif', tmp_path / 'out.tif',
                        tile_size=64)
    with rasterio.open(tmp_path / 'out.tif') as ds:
        labels = ds.read(1)
    assert (labels[:, :90] == 255).all() and (labels[:, 90:] != 255).all()
    assert res['skipped_nodata_windows'] == 4 * 1  # the first column
    assert abs(res['nodata_fraction'] - 0.45) < 1e-9


def test_16bit_stretch_is_the_documented_percentile_map(tmp_path):
    from ovseg_plugins.apis.raster import segment_raster
    rng = np.random.default_rng(0)
    data = rng.integers(1000, 9000, (4, 120, 90)).astype(np.uint16)
    write_raster(tmp_path / 'in.tif', data)
    seen = []

    def record(rgb):
        seen.append(rgb.copy())
        return pointwise_probs(rgb)

    res = segment_raster(record, str(tmp_path / 'in.tif'),
                         str(tmp_path / 'o.tif'), num_classes=3,
                         bands=[3, 2, 1], tile_size=512, progress=False)
    sel = data[[2, 1, 0]].astype(np.float64)
    lo = np.percentile(sel.reshape(3, -1), 2, axis=1)
    hi = np.percentile(sel.reshape(3, -1), 98, axis=1)
    expect = np.rint(np.clip((sel - lo[:, None, None]) /
                             (hi - lo)[:, None, None], 0, 1) * 255)
    assert res['bands'] == [3, 2, 1]
    np.testing.assert_allclose(res['stretch'], np.stack([lo, hi], 1))
    # float32 arithmetic in the map: at most one grey level off at ties
    diff = np.abs(seen[0].transpose(2, 0, 1).astype(int) - expect)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99


def _whole_image_reference(seg, rgb):
    """The model's own whole-image slide inference (predict) on the raster
    held in memory: class probabilities (C, H, W) and labels."""
    from ovseg_plugins.apis.raster import SlideModel
    x = SlideModel(seg).preprocess(rgb[None])
    out = seg.predict(x)[0]
    return out.seg_logits.data.numpy(), out.pred_sem_seg.data[0].numpy()


def _windows_probs(job):
    C = len(job.model.model.dataset_meta['classes'])
    probs = np.zeros((C, job.grid.height, job.grid.width), np.float32)
    cache = {}
    for w in range(len(job.grid)):
        y0, y1, x0, x1 = job.grid.region(w)
        p, _, cache = job.window_probs(w, cache)
        probs[:, y0:y1, x0:x1] = p
    return probs


@pytest.mark.parametrize('tile_size', [512, 1024])
def test_seam_free_equal_to_whole_image_slide_inference(tmp_path, mmseg_scope,
                                                        tile_size):
    """1500 x 1100 raster, SegEarth-OV (tiny random CLIP) at 224 / 112:
    every window's pixels come from the crops the whole-image slide
    inference averages there, whatever the window size."""
    import rasterio

    from fixtures.tiny_models import tiny_ovclip_segmentor
    from ovseg_plugins.apis.raster import RasterRun, SlideModel
    seg = tiny_ovclip_segmentor(test_cfg=dict(mode='slide', crop_size=224,
                                              stride=112))
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (3, 110, 150), dtype=np.uint8)
    data = np.kron(small, np.ones((1, 10, 10), np.uint8))  # 1100 x 1500
    data = (data.astype(int) + rng.integers(-20, 20, data.shape)).clip(
        0, 255).astype(np.uint8)
    write_raster(tmp_path / 'in.tif', data)
    ref_p, ref_l = _whole_image_reference(seg, data.transpose(1, 2, 0))
    run = RasterRun(SlideModel(seg, tile_size), str(tmp_path / 'in.tif'),
                    str(tmp_path / 'o.tif'), seg.dataset_meta['classes'],
                    None, None, 'auto', (2, 98), tile_size, 0., 0, None, 1.,
                    str(tmp_path / 'parts'), False, None, None)
    try:
        assert len(run.job.grid) == (35 if tile_size == 512 else 4)
        probs = _windows_probs(run.job)
    finally:
        run.close()
    assert np.abs(probs - ref_p).max() <= 1e-5
    assert (probs.argmax(0) == ref_l).mean() >= 0.9999
    # and through segment_raster: the label file equals the reference
    from ovseg_plugins.apis.raster import segment_raster
    segment_raster(seg, str(tmp_path / 'in.tif'), str(tmp_path / 'l.tif'),
                   tile_size=tile_size, progress=False)
    with rasterio.open(tmp_path / 'l.tif') as ds:
        assert (ds.read(1) == ref_l).mean() >= 0.9999


def test_sam3_through_the_same_raster_path(tmp_path, mmseg_scope):
    """SegEarth-OV3 (tiny random SAM 3, 64 px slide) through
    segment_raster equals its whole-image slide inference."""
    import rasterio
    from mmseg.registry import MODELS

    from fixtures.tiny_sam3 import TINY_SAM3_BACKBONE
    from ovseg_plugins.apis.raster import segment_raster
    torch.manual_seed(0)
    seg = MODELS.build(dict(
        type='SAM3Segmentor', backbone=copy.deepcopy(TINY_SAM3_BACKBONE),
        class_names='road;building;tree',
        decode_head=dict(type='DualHeadFusionDecoder',
                         confidence_threshold=0.0),
        test_cfg=dict(mode='slide', crop_size=64, stride=64))).eval()
    data = np.random.default_rng(1).integers(0, 256, (3, 96, 160), np.uint8)
    write_raster(tmp_path / 'in.tif', data)
    _, ref_l = _whole_image_reference(seg, data.transpose(1, 2, 0))
    res = segment_raster(seg, str(tmp_path / 'in.tif'),
                         str(tmp_path / 'l.tif'), tile_size=64,
                         progress=False)
    assert res['grid']['crop'] == [64, 64] and res['windows'] == 6
    with rasterio.open(tmp_path / 'l.tif') as ds:
        assert (ds.read(1) == ref_l).mean() >= 0.9999
    json.dumps(res, allow_nan=False)

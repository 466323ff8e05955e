"""Rasters users really have, through the raster path: how their pixels
become RGB is decided before inference (palette, NaN, colour
interpretation, sensor layouts) or refused with the fix; pictures are drawn
from the pixels the model saw (docs/bad_inputs.md)."""
import json
import os

import numpy as np
import pytest

pytest.importorskip('rasterio')

from apis.raster.raster_helpers import (pointwise_probs,  # noqa: E402
                                       write_raster)


def _record(src, **kw):
    """segment_raster with a per-pixel model; returns (result, the RGB
    arrays the model saw, the labels written)."""
    import rasterio

    from ovseg_plugins.apis.raster import segment_raster
    seen = []

    def model(rgb):
        seen.append(rgb.copy())
        return pointwise_probs(rgb)

    out = str(src) + '.labels.tif'
    res = segment_raster(model, str(src), out, num_classes=3,
                         class_names=['a', 'b', 'c'], progress=False,
                         tile_size=512, **kw)
    with rasterio.open(out) as ds:
        labels = ds.read(1)
    return res, seen, labels


def _plain(path, data, **kw):
    """A GeoTIFF without colour interpretation (MINISBLACK)."""
    import rasterio
    from rasterio.transform import from_origin
    B, H, W = data.shape
    with rasterio.open(path, 'w', driver='GTiff', width=W, height=H, count=B,
                       dtype=data.dtype, crs='EPSG:32632',
                       photometric='MINISBLACK',
                       transform=from_origin(5e5, 5.65e6, 1, 1)) as d:
        d.write(data)
        for k, v in kw.items():
            setattr(d, k, v)
    return path


def test_palette_raster_read_through_its_colour_table(tmp_path):
    """A palette (indexed-colour) GeoTIFF was read as grey indices."""
    import rasterio
    idx = np.random.default_rng(0).integers(0, 3, (1, 40, 30)).astype(
        np.uint8)
    cmap = {0: (250, 10, 10, 255), 1: (10, 250, 10, 255),
            2: (10, 10, 250, 255)}
    p = tmp_path / 'pal.tif'
    write_raster(p, idx)
    with rasterio.open(p, 'r+') as d:
        d.write_colormap(1, cmap)
    res, seen, _ = _record(p)
    lut = np.array([cmap[k][:3] for k in range(3)], np.uint8)
    assert np.array_equal(seen[0], lut[idx[0]])
    assert res['rgb']['rule'] == 'palette: colour table'


def test_float_raster_with_nan_holes_and_no_nodata_tag(tmp_path):
    """Float reflectance with NaN holes, no nodata tag: the stretch was NaN
    (one class everywhere) and the summary invalid JSON."""
    rng = np.random.default_rng(0)
    data = rng.random((3, 50, 60)).astype(np.float32) * 0.3
    data[:, 10:20, 10:30] = np.nan
    data[2, 40, 5] = np.inf
    write_raster(tmp_path / 'f.tif', data)
    res, _, labels = _record(tmp_path / 'f.tif')
    hole = np.zeros((50, 60), bool)
    hole[10:20, 10:30] = True
    hole[40, 5] = True
    assert (labels[hole] == 255).all() and (labels[~hole] < 3).all()
    assert np.isfinite(res['stretch']).all() and res['rgb']['nan_is_nodata']
    json.dumps(res, allow_nan=False)  # valid JSON


def test_sentinel2_13_bands_without_colour_interpretation(tmp_path):
    """A Sentinel-2-style 13-band stack read bands 1, 2, 3 (aerosol, blue,
    green) as RGB, silently."""
    data = np.zeros((13, 20, 20), np.uint16)
    for b in range(13):
        data[b] = 1000 * (b + 1) + np.arange(20)
    res, seen, _ = _record(_plain(tmp_path / 's2.tif', data))
    assert res['bands'] == [4, 3, 2]
    assert 'Sentinel-2 L1C' in res['rgb']['rule']


@pytest.mark.parametrize('count,frags', [
    (2, ['2 bands of uint16', 'A 2-band file has no RGB reading',
         'Give --bands R G B']),
    (4, ['4 bands of uint16', 'PlanetScope is B, G, R, NIR (--bands 3 2 1)',
         'NAIP is R, G, B, NIR (--bands 1 2 3)']),
    (5, ['5 bands of uint16', 'no known sensor layout', 'Give --bands R G B']),
], ids=['two_bands', 'bgrn_without_colour_interpretation', 'five_bands'])
def test_bands_that_cannot_be_told_apart(tmp_path, count, frags):
    """Files whose band order cannot be known ran with bands 1, 2, 3 (or 1
    repeated) and no notice."""
    from ovseg_plugins.apis.raster import segment_raster
    p = _plain(tmp_path / 'x.tif', np.zeros((count, 8, 8), np.uint16))
    with pytest.raises(ValueError) as e:
        segment_raster(pointwise_probs, str(p), str(tmp_path / 'o.tif'),
                       num_classes=3, progress=False)
    msg = str(e.value)
    assert msg.startswith(f'{p}: cannot tell which bands are red, green and '
                          'blue')
    for f in frags:
        assert f in msg, (f, msg)
    assert not (tmp_path / 'o.tif').exists()


def test_bands_outside_the_raster(tmp_path):
    """``--bands 3 2 5`` on a 4-band raster."""
    from ovseg_plugins.apis.raster import segment_raster
    p = _plain(tmp_path / 'x.tif', np.zeros((4, 8, 8), np.uint16))
    with pytest.raises(ValueError) as e:
        segment_raster(pointwise_probs, str(p), str(tmp_path / 'o.tif'),
                       num_classes=3, bands=[3, 2, 5], progress=False)
    assert 'bands=[3, 2, 5]: [5] outside 1..4 (the raster has 4 bands' in \
        str(e.value)


@pytest.fixture(scope='module')
def demo_pictures(tmp_path_factory):
    """One image_demo run on an EXIF-rotated non-square JPEG and a 16-bit
    greyscale PNG (tiny random model); returns (folder, inputs)."""
    import cv2
    from PIL import Image

    from conftest import run_py
    from fixtures.tiny_configs import tiny_demo_config
    d = tmp_path_factory.mktemp('demo_pictures')
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 255, (48, 80, 3), np.uint8)  # 80 wide, 48 high
    stored[:, :40] //= 4  # dark left half: orientation visible
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 deg clockwise to display
    Image.fromarray(stored).save(d / 'rotated.jpg', exif=exif, quality=95)
    square = rng.integers(0, 255, (56, 56, 3), np.uint8)
    square[:20] //= 4  # dark top rows: orientation visible
    exif[0x0112] = 8  # rotate 90 deg counter-clockwise to display
    Image.fromarray(square).save(d / 'square.jpg', exif=exif, quality=95)
    grad = np.tile(np.linspace(0, 65535, 96).astype(np.uint16), (64, 1))
    cv2.imwrite(str(d / 'grey16.png'), grad)
    out = d / 'out'
    r = run_py(['tools/demo/image_demo.py', str(d / 'rotated.jpg'),
                str(d / 'square.jpg'), str(d / 'grey16.png'), '--model', tiny_demo_config(d),
                '--classes', 'road;tree;water', '--out-dir', str(out)],
               env={'HF_HUB_OFFLINE': '1', 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out, d


def _overlay_part(out, stem):
    """Labels and the picture part of the overlay (no legend), without its
    bottom 30 rows (the random-weights stamp)."""
    from PIL import Image
    labels = np.array(Image.open(out / f'{stem}_labels.png'))
    overlay = np.array(Image.open(out / f'{stem}_overlay.png'))
    return labels, overlay[:-30, :labels.shape[1]].astype(np.float32)


def _blend(image, labels, alpha=0.5):
    from ovseg_plugins.seg2d.models.utils.vocabulary_meta import make_palette
    colours = np.asarray(make_palette(3), np.float32)[labels]
    return (image.astype(np.float32) * (1 - alpha) + colours * alpha)[:-30]


def test_exif_rotated_non_square_jpeg_drawn_as_segmented(demo_pictures):
    """A JPEG whose EXIF orientation rotates it: the labels (computed on the
    rotated pixels) were painted over the unrotated photo, and a non-square
    one crashed after inference."""
    import cv2
    out, d = demo_pictures
    labels, part = _overlay_part(out, 'rotated')
    assert labels.shape == (80, 48)  # displayed (rotated) geometry
    seen = cv2.imread(str(d / 'rotated.jpg'))[..., ::-1]  # EXIF applied
    assert np.abs(part - _blend(seen, labels)).max() <= 1


def test_exif_rotated_square_jpeg_drawn_as_segmented(demo_pictures):
    """A square JPEG with an EXIF rotation: same size either way, so the
    labels of the rotated pixels were painted over the unrotated photo
    without any error."""
    import cv2
    out, d = demo_pictures
    labels, part = _overlay_part(out, 'square')
    seen = cv2.imread(str(d / 'square.jpg'))[..., ::-1]  # EXIF applied
    stored = cv2.imread(str(d / 'square.jpg'), cv2.IMREAD_COLOR |
                        cv2.IMREAD_IGNORE_ORIENTATION)[..., ::-1]
    assert np.abs(seen.astype(int) - stored).mean() > 20  # really rotated
    assert np.abs(part - _blend(seen, labels)).max() <= 1


def test_16bit_grey_png_drawn_from_the_pixels_the_model_saw(demo_pictures):
    """A 16-bit greyscale PNG was drawn as a flat white picture while the
    model saw value/256."""
    import cv2
    out, d = demo_pictures
    labels, part = _overlay_part(out, 'grey16')
    seen = cv2.imread(str(d / 'grey16.png'))[..., ::-1]  # the model's 8 bit
    assert seen[..., 0].min() == 0 and seen[..., 0].max() == 255
    assert np.abs(part - _blend(seen, labels)).max() <= 1


# ------------------------------------------------- outputs of a run
IDENT = dict(model='m1', classes=[['road'], ['tree']],
             input=dict(path='/data/a.tif'))


def _done_run(d, ident=IDENT, *suffixes):
    from ovseg_plugins.apis.raster import RunFolder
    with RunFolder(str(d), 'image_demo') as f:
        f.claim({'a': ident})
        outs = []
        for suf in suffixes or ('_labels.tif', ):
            (d / f'a{suf}').write_text('x')
            outs.append(str(d / f'a{suf}'))
        f.done('a', outs)


def _claim(d, ident=IDENT, **kw):
    """Claim job ``a`` in the output folder ``d`` as image_demo does."""
    from ovseg_plugins.apis.raster import RunFolder
    with RunFolder(str(d), 'image_demo') as f:
        return f.claim({'a': ident}, **kw)


def test_same_file_name_in_two_input_folders(tmp_path):
    """``x/a.tif`` and ``y/a.tif`` in one run wrote the same outputs, the
    second overwriting the first."""
    from ovseg_plugins.apis.raster import output_stems
    with pytest.raises(ValueError) as e:
        output_stems(['x/a.tif', 'y/a.tif'])
    assert "Inputs 'x/a.tif' and 'y/a.tif' have the same name 'a.tif': " \
        'their outputs would overwrite each other' in str(e.value)


@pytest.mark.parametrize('where', ['same', 'inside'])
def test_output_folder_overlaps_the_input_folder(tmp_path, where):
    """``--out-dir`` equal to (or inside) the input folder: the next run
    segmented its own outputs."""
    from ovseg_plugins.apis.raster import check_no_overlap
    out = tmp_path if where == 'same' else tmp_path / 'out'
    with pytest.raises(ValueError) as e:
        check_no_overlap([str(tmp_path)], str(out))
    assert f'The input folder {str(tmp_path)!r} and the output folder ' \
        f'{str(out)!r} overlap' in str(e.value)
    assert 'overlap: a later run would segment these outputs as inputs' in \
        str(e.value)


def test_input_file_that_is_an_output_of_the_folder(tmp_path):
    """Segmenting ``out/a_labels.tif`` into ``out``."""
    from ovseg_plugins.apis.raster import check_no_overlap
    p = tmp_path / 'a_labels.tif'
    p.write_text('x')
    with pytest.raises(ValueError) as e:
        check_no_overlap([str(p)], str(tmp_path))
    assert 'is an output of the folder' in str(e.value)


def test_raster_without_georeference(tmp_path):
    """A JPEG under ``--raster`` wrote a label GeoTIFF with an identity
    transform and no CRS."""
    import warnings

    from PIL import Image

    from ovseg_plugins.apis.raster import segment_raster
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(tmp_path / 'p.jpg')
    with warnings.catch_warnings(), pytest.raises(ValueError) as e:
        warnings.simplefilter('ignore')  # rasterio: NotGeoreferenced
        segment_raster(pointwise_probs, str(tmp_path / 'p.jpg'),
                       str(tmp_path / 'o.tif'), num_classes=3,
                       progress=False)
    assert 'p.jpg: no georeference (no CRS, no geotransform, no GCPs)' in \
        str(e.value) and 'give --no-georef' in str(e.value)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        res = segment_raster(pointwise_probs, str(tmp_path / 'p.jpg'),
                             str(tmp_path / 'o.tif'), num_classes=3,
                             progress=False, no_georef=True)
    assert res['windows'] == 1


def test_second_run_of_another_command_into_the_folder(tmp_path):
    """Another vocabulary into the same --out-dir left the first run's
    polygons beside new labels."""
    _done_run(tmp_path, IDENT, '_labels.tif', '_polygons.geojson')
    with pytest.raises(ValueError) as e:
        _claim(tmp_path, dict(IDENT, classes=[['water']]))
    msg = str(e.value)
    assert 'a_* were written by another command (it differs in: classes' \
        in msg and '--overwrite to replace them' in msg
    assert (tmp_path / 'a_polygons.geojson').is_file()  # untouched


def test_outputs_that_no_manifest_lists(tmp_path):
    """Files named like this run's outputs, not written by a run."""
    (tmp_path / 'a_labels.tif').write_text('someone else')
    with pytest.raises(ValueError) as e:
        _claim(tmp_path)
    assert 'a_labels.tif exist(s) but no run manifest (ovseg_run.json) ' \
        'lists them' in str(e.value)


def test_unfinished_run_restarted_without_resume(tmp_path):
    """The same command after a kill: hours of finished windows would be
    thrown away silently."""
    from ovseg_plugins.apis.raster import RunFolder
    with RunFolder(str(tmp_path)) as f:
        f.claim({'a': IDENT})  # killed before done()
    with pytest.raises(ValueError) as e:
        _claim(tmp_path)
    assert 'an unfinished run of this same command is here (killed?). Add ' \
        '--resume to finish it' in str(e.value)


def test_resume_with_nothing_to_resume(tmp_path):
    """``--resume`` into a folder where no run of this command was."""
    with pytest.raises(ValueError) as e:
        _claim(tmp_path, resume=True)
    assert 'nothing to resume in' in str(e.value)


def test_output_folder_shared_by_two_runs(tmp_path):
    """Two runs writing one folder at the same time interleaved their
    files."""
    from ovseg_plugins.apis.raster import RunFolder
    with RunFolder(str(tmp_path), 'image_demo'):
        with pytest.raises(RuntimeError) as e:
            RunFolder(str(tmp_path), 'image_demo').open()
    msg = str(e.value)
    assert f'image_demo: the output folder {str(tmp_path)!r} is being ' \
        f'written by another run (pid {os.getpid()}' in msg
    assert 'is being written by another run' in msg
    assert 'two runs must not share an output folder' in msg
    RunFolder(str(tmp_path)).open().close()  # released with the first


def test_damaged_manifest(tmp_path):
    """A truncated ``ovseg_run.json`` (disk full, hand edit)."""
    from ovseg_plugins.apis.raster import RunFolder
    (tmp_path / 'ovseg_run.json').write_text('{"format": "ovseg-run/1", ')
    with pytest.raises(ValueError) as e:
        RunFolder(str(tmp_path)).open()
    assert 'ovseg_run.json: not a readable run manifest' in str(e.value)


def test_resume_with_windows_of_another_command(tmp_path):
    """Finished windows of another vocabulary, then ``resume=True``."""
    from ovseg_plugins.apis.raster import segment_raster
    write_raster(tmp_path / 'in.tif', np.zeros((3, 64, 64), np.uint8))
    kw = dict(num_classes=3, progress=False, tile_size=32,
              parts_dir=str(tmp_path / 'parts'))
    import ovseg_plugins.apis.raster.tiled_segmentation as ts
    orig = ts.RasterRun.finish
    ts.RasterRun.finish = lambda *a, **k: None  # killed before assembling
    try:
        segment_raster(pointwise_probs, str(tmp_path / 'in.tif'),
                       str(tmp_path / 'o.tif'), class_names=['a', 'b', 'c'],
                       **kw)
    except AttributeError:  # no result: the run ended before its outputs
        pass
    finally:
        ts.RasterRun.finish = orig
    assert len(os.listdir(tmp_path / 'parts')) == 1 + 4  # job + windows
    with pytest.raises(ValueError) as e:
        segment_raster(pointwise_probs, str(tmp_path / 'in.tif'),
                       str(tmp_path / 'o.tif'), resume=True,
                       class_names=['x', 'y', 'z'], **kw)
    assert 'parts: the finished windows were computed by another command' \
        in str(e.value)


def test_assembling_with_windows_missing(tmp_path):
    """A process died before its windows were done: nothing half-written
    may look complete."""
    from ovseg_plugins.apis.raster import segment_raster
    import ovseg_plugins.apis.raster.window_job as wj
    write_raster(tmp_path / 'in.tif', np.zeros((3, 64, 64), np.uint8))
    orig = wj.WindowJob.run

    def half(self, windows, progress=None):  # a dead rank's share missing
        return orig(self, list(windows)[:2], progress)

    wj.WindowJob.run = half
    try:
        with pytest.raises(RuntimeError) as e:
            segment_raster(pointwise_probs, str(tmp_path / 'in.tif'),
                           str(tmp_path / 'o.tif'), num_classes=3,
                           tile_size=32, progress=False)
    finally:
        wj.WindowJob.run = orig
    assert 'o.tif: 2 of 4 windows are not finished' in str(e.value)
    assert 'again with --resume' in str(e.value)
    assert not (tmp_path / 'o.tif').exists()


def test_unreachable_url(tmp_path):
    """``http://`` / ``/vsicurl/`` input that cannot be reached: was "Input
    not found"."""
    import socket

    from ovseg_plugins.apis.raster import RasterSource
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    url = f'http://127.0.0.1:{port}/scene.tif'
    with pytest.raises(OSError) as e:
        RasterSource(url)
    msg = str(e.value)
    assert msg.startswith(f'Cannot read the remote raster {url!r}')
    assert 'Cannot read the remote raster' in msg and 'check the URL' in msg


def test_url_that_answers_404(tmp_path):
    """A reachable server without the file (a typo in the URL)."""
    import os.path as osp
    import sys

    from conftest import REPO_ROOT
    from ovseg_plugins.apis.raster import RasterSource
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
    try:
        from range_server import RangeServer
    finally:
        sys.path.pop(0)
    with RangeServer(tmp_path) as srv:
        url = srv.url('missing.tif')
        with pytest.raises(OSError) as e:
            RasterSource(url)
    assert str(e.value).startswith(f'Cannot read the remote raster {url!r}')
    assert 'check the URL (open it in a browser or with curl -I)' in \
        str(e.value)


def test_nodata_value_that_is_a_class_index(tmp_path):
    """``nodata_value=1`` with 3 classes: class 1 would read as nodata."""
    from ovseg_plugins.apis.raster import segment_raster
    write_raster(tmp_path / 'in.tif', np.zeros((3, 16, 16), np.uint8))
    with pytest.raises(ValueError) as e:
        segment_raster(pointwise_probs, str(tmp_path / 'in.tif'),
                       str(tmp_path / 'o.tif'), num_classes=3,
                       nodata_value=1, progress=False)
    assert 'nodata_value=1 is a class index (0..2); pick another.' in \
        str(e.value)


def test_scale_on_a_tile_folder(tmp_path):
    """``--scale 0.5`` on a folder of tiles (resampled windows need one
    raster)."""
    from ovseg_plugins.apis.raster import segment_raster
    tiles = tmp_path / 'tiles'
    tiles.mkdir()
    write_raster(tiles / 't0.tif', np.zeros((3, 16, 16), np.uint8))
    with pytest.raises(ValueError) as e:
        segment_raster(pointwise_probs, str(tiles), str(tmp_path / 'o.tif'),
                       num_classes=3, scale=0.5, progress=False)
    assert 'for a tile folder build a VRT first (gdalbuildvrt tiles.vrt ' \
        'tiles/*.tif) and give the .vrt' in str(e.value)


BAD_INPUTS_DOC = {
    'test_palette_raster_read_through_its_colour_table': (
        'raster', 'Palette (indexed-colour) GeoTIFF - was read as grey '
        'indices', 'handled: band 1 through its colour table (rule '
        '"palette: colour table", printed and in the summary)'),
    'test_float_raster_with_nan_holes_and_no_nodata_tag': (
        'raster', 'float32 raster with NaN holes (and an inf) and no nodata '
        'tag - was a NaN stretch (one class everywhere) and a summary with '
        'NaN (invalid JSON)',
        'handled: NaN/inf are nodata (output 255), the stretch comes from '
        'the finite pixels; summaries are written with allow_nan=False'),
    'test_sentinel2_13_bands_without_colour_interpretation': (
        'raster', '13-band Sentinel-2-style stack without colour '
        'interpretation - was bands 1, 2, 3 (aerosol, blue, green) silently',
        'handled: bands 4, 3, 2 by the known layout (rule "sensor layout '
        'from the band count: Sentinel-2 L1C ...", printed and stored)'),
    'test_exif_rotated_non_square_jpeg_drawn_as_segmented': (
        'tools', '`image_demo.py` on a non-square JPEG with an EXIF rotation '
        '- labels were painted over the unrotated photo (square images) or '
        'it crashed after inference (non-square)',
        'handled: the picture is drawn from the pixels the model saw (the '
        'pipeline\'s loader, `OVSegInferencer.load_image`), rotated as '
        'displayed'),
    'test_exif_rotated_square_jpeg_drawn_as_segmented': (
        'tools', '`image_demo.py` on a square JPEG with an EXIF rotation - '
        'labels of the rotated pixels were painted over the unrotated '
        'photo, no error',
        'handled: the picture is drawn from the pixels the model saw, '
        'rotated as displayed'),
    'test_16bit_grey_png_drawn_from_the_pixels_the_model_saw': (
        'tools', '`image_demo.py` on a 16-bit greyscale PNG - drawn as a '
        'flat white overlay while the model saw value/256',
        'handled: the picture shows the 8-bit pixels the model saw (same '
        'loader)'),
}

import numpy as np
import pytest


def test_check_bands():
    from ovseg_plugins.apis.raster import check_bands
    assert check_bands([5], 5) == [5, 5, 5]
    assert check_bands([3, 2, 1], 4) == [3, 2, 1]
    with pytest.raises(ValueError, match=r'bands=\[1, 9, 2\].*1\.\.4'):
        check_bands([1, 9, 2], 4)
    with pytest.raises(ValueError, match='give 3 band indices'):
        check_bands([1, 2], 4)


def test_stretch_modes():
    from ovseg_plugins.apis.raster import stretch_ranges, to_uint8
    a = np.arange(10000, dtype=np.uint16).reshape(1, 100, 100)
    valid = np.ones((100, 100), bool)
    valid[0, :10] = False  # values 0..9 are nodata: excluded
    r = stretch_ranges(a, valid, np.uint16)
    v = a.reshape(-1)[valid.reshape(-1)]
    assert np.allclose(r[0], np.percentile(v, [2, 98]))
    assert stretch_ranges(a[:, :5, :5].astype(np.uint8), valid[:5, :5],
                          np.uint8) is None
    r = stretch_ranges(a, valid, np.uint16, 'minmax')
    assert r.tolist() == [[10., 9999.]]
    out = to_uint8(np.array([[[10, 5004, 9999, 20000]]], np.uint16), r)
    assert out.tolist() == [[[0, 127, 255, 255]]]
    assert stretch_ranges(a, valid, np.uint16, (0, 4000)).tolist() == \
        [[0., 4000.]]
    with pytest.raises(ValueError, match='stretch'):
        stretch_ranges(a, valid, np.uint16, 'log')

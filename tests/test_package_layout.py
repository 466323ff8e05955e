"""Import rules: the package root is framework-free; 2D and 3D stay apart."""
from conftest import run_py


def _check(code):
    r = run_py(['-c', code])
    assert r.returncode == 0, r.stdout + r.stderr


def test_root_imports_no_torch():
    _check("import ovseg_plugins, sys; assert 'torch' not in sys.modules, "
           "'torch imported'; print(ovseg_plugins.__version__)")


def test_seg2d_does_not_import_mmdet3d():
    _check("import ovseg_plugins.seg2d, sys; "
           "bad = [m for m in sys.modules if m.startswith(('mmdet3d', "
           "'ovseg_plugins.seg3d'))]; assert not bad, bad")


def test_seg3d_does_not_import_mmseg():
    _check("import ovseg_plugins.seg3d, sys; "
           "bad = [m for m in sys.modules if m.startswith(('mmseg', "
           "'ovseg_plugins.seg2d'))]; assert not bad, bad")


def test_text_imports_no_framework():
    _check("import ovseg_plugins.text, sys; "
           "bad = [m for m in sys.modules if m.startswith(('mmseg', "
           "'mmdet', 'mmcv'))]; assert not bad, bad")

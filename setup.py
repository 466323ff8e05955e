"""Install ovseg_plugins (pure Python: no compiled extensions).

The heavy stack (torch, mmcv built with ops, mmseg, mmdet, mmdet3d) is installed
by ``make setup``; see ``requirements/`` for the pins and why they are needed.
"""
import os
import os.path as osp
import re
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def get_version():
    with open(osp.join(HERE, 'ovseg_plugins', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def parse_requirements(fname):
    reqs = []
    with open(osp.join(HERE, 'requirements', fname)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


def add_mim_extension():
    """Expose ``configs/`` as ``ovseg_plugins/.mim/configs``, the layout
    mmseg and mmdet3d use: installed copies find their configs there
    (``ovseg_plugins.utils.config_paths.config_root``). Editable installs
    link it; wheels and sdists get a copy."""
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(c in sys.argv for c in ('sdist', 'bdist_wheel', 'install',
                                      'build', 'build_py')):
        mode = 'copy'
    else:
        return
    mim_dir = osp.join(HERE, 'ovseg_plugins', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    src, dst = osp.join(HERE, 'configs'), osp.join(mim_dir, 'configs')
    if osp.islink(dst) or osp.isfile(dst):
        os.remove(dst)
    elif osp.isdir(dst):
        shutil.rmtree(dst)
    linked = False
    if mode == 'symlink':
        try:
            os.symlink(osp.relpath(src, mim_dir), dst)
            linked = True
        except OSError:  # no symlinks (some Windows setups): copy
            pass
    if not linked:
        shutil.copytree(src, dst)
    # .mim/model-index.yml lists the method metafiles (MIM format) present
    # at install time
    metafiles = sorted(
        osp.join('configs', d, f) for d in os.listdir(src)
        if osp.isdir(osp.join(src, d)) for f in os.listdir(osp.join(src, d))
        if f in ('metafile.yaml', 'metafile.yml'))
    with open(osp.join(mim_dir, 'model-index.yml'), 'w') as f:
        f.write('Import:' + ''.join(f'\n  - {m}' for m in metafiles) +
                ('\n' if metafiles else ' []\n'))


add_mim_extension()

setup(
    name='ovseg_plugins',
    version=get_version(),
    description='OpenMMLab plugin toolbox for open-vocabulary segmentation '
    '(SegEarth-OV, SimFeatUp, SegEarth-OV3, GeoPurify, CoIDO)',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['ovseg_plugins', 'ovseg_plugins.*']),
    include_package_data=True,
    package_data={'ovseg_plugins': ['.mim/model-index.yml',
                                   '.mim/configs/**/*']},
    python_requires='>=3.9',
    install_requires=parse_requirements('runtime.txt'),
    extras_require={
        'optional': parse_requirements('optional.txt'),
        'tests': parse_requirements('tests.txt'),
    },
    license='Apache-2.0',
    zip_safe=False,
)

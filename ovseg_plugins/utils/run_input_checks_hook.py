"""The input checks of a run, as a hook listed in the configs."""
import os.path as osp
import time
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from .config_checks import check_clip_normalisation, check_evaluator_options
from .run_checks import (check_checkpoint_matches, check_class_count,
                         check_dataset_not_empty, check_resume_checkpoint,
                         check_seg_sample, scan_dataset_files)

_LOOPS = (('train', '_train_loop'), ('val', '_val_loop'),
          ('test', '_test_loop'))
_CKPT_EXTS = ('.pth', '.pt', '.ckpt', '.bin', '')


@HOOKS.register_module()
class RunInputChecksHook(Hook):
    """Clear errors, before a run and as its samples arrive, for inputs that
    would otherwise fail late, obscurely or silently.

    Listed in ``default_hooks`` of ``configs/_base_/default_runtime.py``
    (2D) and ``default_runtime_3d.py`` (3D) as ``input_checks``, so it runs
    with every door that builds a Runner from our configs: ``tools/
    train.py`` / ``test.py``, mmseg's and mmdet3d's own ``.mim/tools``
    scripts, ``Runner.from_cfg`` in a script. A config of your own gets it
    with ``default_hooks = dict(input_checks=dict(type=
    'RunInputChecksHook'))`` (after ``custom_imports`` of
    ``ovseg_plugins.seg2d`` / ``seg3d`` / ``coido``).

    Before the run (``before_run``): evaluator options are ones their metric
    takes (a misspelled one would be dropped silently); a CLIP backbone's
    data preprocessor has CLIP's mean/std (a warning); each loop's dataset
    is not empty; the
    model's vocabulary has the dataset's class count (val/test); every file
    a sample names exists, is not empty, and opens (images; ``.bin`` point
    files of the pipeline's ``load_dim``); a ``load_from`` checkpoint is
    readable (safe loader) and of this architecture (training runs may
    change a head's shapes); a ``--resume`` checkpoint is readable and holds
    no config text mmengine would execute.

    As samples arrive (``before_{train,val,test}_iter``, 2D segmentation
    datasets): label values within the classes or ``ignore_index``, label
    map of the image's size, no EXIF rotation on labelled images, no 12-bit
    data in 16-bit files.

    Args:
        scan_files (bool): Check every sample's files before the run.
            Defaults to True.
        check_samples (bool): Check each 2D sample as it is loaded.
            Defaults to True.
        splits (Sequence[str]): Loops whose datasets are checked. Defaults
            to all three.
    """
    priority = 'VERY_HIGH'

    def __init__(self, scan_files: bool = True, check_samples: bool = True,
                 splits: Sequence[str] = ('train', 'val', 'test')) -> None:
        unknown = set(splits) - {'train', 'val', 'test'}
        if unknown:
            raise ValueError(f'RunInputChecksHook.splits: unknown '
                             f'{sorted(unknown)}; use train, val, test.')
        self.scan_files = bool(scan_files)
        self.check_samples = bool(check_samples)
        self.splits = tuple(splits)
        self._seg = {}  # split -> (num_classes, ignore_index, reduce_zero)

    def check_dataset(self, dataset, split: str, model=None) -> int:
        """The before-run checks of one loop's dataset (also usable on a
        dataset outside a Runner); remembers what :meth:`check_batch` needs.

        Returns:
            int: The number of files checked.
        """
        check_dataset_not_empty(dataset, split)
        if split != 'train' and model is not None:
            check_class_count(model, dataset, split)
        self._seg[split] = self._seg_info(dataset)
        return scan_dataset_files(dataset, split) if self.scan_files else 0

    def check_dataloader(self, dataloader, split: str = 'test', model=None):
        """Outside a Runner (a check of a dataloader before a long run):
        :meth:`check_dataset` on its dataset, then :meth:`check_batch` on
        its first batch, which is returned."""
        self.check_dataset(dataloader.dataset, split, model)
        batch = next(iter(dataloader))
        self.check_batch(split, batch)
        return batch

    def before_run(self, runner) -> None:
        from mmengine.runner import BaseLoop
        cfg = getattr(runner, 'cfg', None)
        if cfg is not None:
            check_evaluator_options(cfg)
        model = getattr(runner.model, 'module', runner.model)
        if not getattr(model, 'clip_normalisation_checked', False):
            check_clip_normalisation(model)
        t0, files = time.perf_counter(), 0
        for split, attr in _LOOPS:
            loop = getattr(runner, attr, None)
            if split in self.splits and isinstance(loop, BaseLoop):
                files += self.check_dataset(loop.dataloader.dataset, split,
                                            runner.model)
        if files:
            print_log(f'RunInputChecksHook: {files} input files checked in '
                      f'{time.perf_counter() - t0:.1f} s', 'current')
        load_from = getattr(runner, '_load_from', None)
        resume = getattr(runner, '_resume', False)
        if load_from and not resume and \
                osp.splitext(str(load_from))[1] in _CKPT_EXTS:
            training = isinstance(getattr(runner, '_train_loop', None),
                                  BaseLoop)
            check_checkpoint_matches(runner.model, load_from,
                                     allow_shape_mismatch=training)
        elif resume:
            check_resume_checkpoint(runner, load_from)

    @staticmethod
    def _seg_info(dataset) -> Optional[tuple]:
        """``(num_classes, ignore_index, reduce_zero_label)`` of a 2D
        segmentation dataset, else None."""
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        if not classes or not hasattr(dataset, 'ignore_index'):
            return None
        return (len(classes), int(dataset.ignore_index),
                bool(getattr(dataset, 'reduce_zero_label', False)))

    def check_batch(self, split: str, data_batch) -> None:
        """Check the 2D samples of a batch (after :meth:`check_dataset`)."""
        info = self._seg.get(split)
        if not self.check_samples or info is None or \
                not isinstance(data_batch, dict):
            return
        for sample in data_batch.get('data_samples') or ():
            check_seg_sample(sample, *info)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self.check_batch('train', data_batch)

    def before_val_iter(self, runner, batch_idx: int,
                        data_batch=None) -> None:
        self.check_batch('val', data_batch)

    def before_test_iter(self, runner, batch_idx: int,
                         data_batch=None) -> None:
        self.check_batch('test', data_batch)

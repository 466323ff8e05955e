"""Checks of a run's inputs that would otherwise fail late or silently.

``tools/train.py`` and ``tools/test.py`` register :class:`RunInputChecksHook`
on every Runner. Framework-neutral (mmengine only): the checks use the model's
``vocabulary`` (our OV segmentors) and the datasets' ``metainfo``.
"""
import os.path as osp

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .checkpoint import load_torch_file
from .validation import cap_message, check_label_values

_EXIF_ORIENTATION = 0x0112


def _png_bit_depth(path: str) -> int:
    """Bit depth from a PNG header (PIL reports 16-bit RGB as 'RGB')."""
    if not path.lower().endswith('.png'):
        return 0
    with open(path, 'rb') as f:
        head = f.read(26)
    return head[24] if len(head) == 26 and head[12:16] == b'IHDR' else 0


def image_file_checks(path: str, labelled: bool) -> None:
    """Header checks of one image file (cheap: no pixel decoding unless the
    file is 16-bit).

    - EXIF orientation other than 1 on a labelled image: mmcv's loader
      rotates the image but not its label map (a silent misalignment).
    - 16-bit image whose values stay below 4096 (12-bit sensors): mmcv's
      loader divides by 256, leaving at most 16 grey levels.

    Raises:
        ValueError: Naming the file and the fix.
    """
    from PIL import Image
    try:
        with Image.open(path) as im:
            orient = im.getexif().get(_EXIF_ORIENTATION, 1)
            mode = im.mode
    except Exception:  # noqa: BLE001 - unreadable: the loader reports it
        return
    if labelled and orient not in (None, 1):
        raise ValueError(
            f'{path}: EXIF orientation {orient} makes the image loader rotate '
            'the image but not its label map. Rotate the pixels and drop the '
            'tag (e.g. PIL.ImageOps.exif_transpose, then save without EXIF) '
            'or rotate the label the same way.')
    if mode.startswith('I;16') or mode in ('I', ) or path.lower().endswith(
            ('.tif', '.tiff')) or _png_bit_depth(path) == 16:
        import cv2
        arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if arr is not None and arr.dtype == 'uint16' and 0 < arr.max() < 4096:
            raise ValueError(
                f'{path}: 16-bit image with values up to {int(arr.max())} '
                '(12-bit or less): the image loader keeps value/256, i.e. at '
                f'most {int(arr.max()) // 256 + 1} grey levels. Rescale it '
                'to 8 bit (e.g. value * 255 / max) before using it.')


class SampleInputChecks:
    """Appended to a 2D dataset's pipeline by :func:`build_dataloader_checked`:
    checks each packed sample against its files.

    - label values within the dataset's classes or ``ignore_index``
      (out-of-range values are silently dropped by the IoU histogram);
    - label map of the image's size;
    - :func:`image_file_checks` (EXIF orientation, 12-bit data in 16 bit).

    Args:
        num_classes (int): The dataset's classes.
        ignore_index (int): The dataset's ignore index.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255,
                 reduce_zero_label: bool = False):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.reduce_zero_label = reduce_zero_label

    def __call__(self, results):
        if not isinstance(results, dict):
            return results
        ds = results.get('data_samples')
        meta = getattr(ds, 'metainfo', None) or {}
        img_path = meta.get('img_path')
        seg_path = meta.get('seg_map_path')
        gt = getattr(ds, 'gt_sem_seg', None) if ds is not None else None
        if isinstance(img_path, str):
            image_file_checks(img_path, gt is not None)
        if gt is not None:
            label = gt.data
            check_label_values(
                label, self.num_classes, f'{seg_path} (label of {img_path}'
                f'{"; values after reduce_zero_label, i.e. file value - 1" if self.reduce_zero_label else ""})',  # noqa: E501
                self.ignore_index)
            ori = meta.get('ori_shape')
            sizes = {tuple(meta[k][:2]) for k in ('ori_shape', 'img_shape',
                                                  'pad_shape') if k in meta}
            if ori is not None and tuple(label.shape[-2:]) not in sizes:
                raise ValueError(
                    f'{seg_path}: label map {tuple(label.shape[-2:])} is not '
                    f'the size of its image {img_path} {tuple(ori[:2])}; '
                    'pair each image with its own label map.')
        return results


def _sample_files(info) -> list:
    """The input files a data-info dict names (2D and 3D datasets)."""
    if not isinstance(info, dict):
        return []
    files = [info.get(k) for k in ('img_path', 'seg_map_path',
                                   'pts_semantic_mask_path',
                                   'pts_instance_mask_path')]
    lidar = info.get('lidar_points')
    if isinstance(lidar, dict):
        files.insert(0, lidar.get('lidar_path'))
    return [f for f in files if isinstance(f, str)]


class NamedErrorsPipeline:
    """A dataset pipeline whose errors name the sample's files.

    Errors raised deep inside numpy / torch / cv2 / PIL by a transform
    (``cannot reshape array of size 10 into shape (6)``, ``!buf.empty()``)
    do not say which file was being read; they are re-raised (same type
    where it can be built, else ``ValueError``; chained) prefixed with the
    sample's files, the message capped.

    Args:
        pipeline (callable): The dataset's ``Compose``; its attributes
            (``transforms``) stay reachable.
    """

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def __getattr__(self, name):
        if name == 'pipeline':
            raise AttributeError(name)
        return getattr(self.pipeline, name)

    def __call__(self, results):
        files = _sample_files(results)
        try:
            return self.pipeline(results)
        except Exception as e:  # noqa: BLE001 - re-raised with the files
            msg = str(e)
            if not files or any(f in msg for f in files):
                raise
            new = cap_message(
                f'while loading {", ".join(map(repr, files))}: '
                f'{type(e).__name__}: {cap_message(msg, 1000)} (check or '
                'regenerate the file; see docs/bad_inputs.md)')
            try:
                err = type(e)(new)
            except Exception:  # noqa: BLE001 - a type needing other args
                err = ValueError(new)
            raise err from e

    def __repr__(self):
        return f'NamedErrorsPipeline({self.pipeline!r})'


def add_sample_checks(dataset) -> None:
    """Wrap a dataset's pipeline in :class:`NamedErrorsPipeline` (2D and 3D)
    and append :class:`SampleInputChecks` to a 2D segmentation dataset's
    pipeline (datasets with ``classes`` and ``ignore_index``)."""
    pipeline = getattr(dataset, 'pipeline', None)
    if callable(pipeline) and not isinstance(pipeline, NamedErrorsPipeline):
        dataset.pipeline = NamedErrorsPipeline(pipeline)
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    transforms = getattr(pipeline, 'transforms', None)
    if not classes or not isinstance(transforms, list) or \
            not hasattr(dataset, 'ignore_index') or any(
                isinstance(t, SampleInputChecks) for t in transforms):
        return
    transforms.append(SampleInputChecks(
        len(classes), dataset.ignore_index,
        bool(getattr(dataset, 'reduce_zero_label', False))))


def _unwrap(model):
    return getattr(model, 'module', model)


def _describe(dataset) -> str:
    root = getattr(dataset, 'data_root', None)
    prefix = getattr(dataset, 'data_prefix', None)
    ann = getattr(dataset, 'ann_file', None)
    parts = [type(dataset).__name__]
    if root:
        parts.append(f'data_root={root!r}')
    if prefix:
        parts.append(f'data_prefix={dict(prefix)!r}')
    if ann:
        parts.append(f'ann_file={ann!r}')
    return ' '.join(parts)


def _empty_error(split: str, desc: str) -> FileNotFoundError:
    what = f'The {split} dataset' if split else 'A dataset'
    return FileNotFoundError(
        f'{what} is empty: {desc} found no samples. Check '
        'data_root / data_prefix / ann_file and the file suffixes '
        '(img_suffix, seg_map_suffix) in the config or --cfg-options.')


def check_dataset_not_empty(dataset, split: str) -> None:
    """Raise when a dataset has no samples (an InfiniteSampler would spin
    forever on it; an evaluator would fail with an obscure message).

    Raises:
        FileNotFoundError: Naming the dataset, its folders and the fix.
    """
    if len(dataset) == 0:
        raise _empty_error(split, _describe(dataset))


def build_dataloader_checked(build, dataloader, *args, **kwargs):
    """``Runner.build_dataloader`` with a clear error for empty datasets.

    mmengine's ``BaseDataset`` fails on an empty data list while it
    serialises it (``ValueError: need at least one array to concatenate``),
    before any hook runs; that error is replaced by one naming the dataset
    config and the fix.
    """
    try:
        dl = build(dataloader, *args, **kwargs)
    except ValueError as e:
        if 'need at least one array to concatenate' not in str(e):
            raise
        ds = dataloader.get('dataset', {}) if isinstance(dataloader,
                                                         dict) else {}
        keys = ('type', 'data_root', 'data_prefix', 'ann_file')
        desc = ' '.join(f'{k}={ds[k]!r}' for k in keys if ds.get(k))
        raise _empty_error('', desc or 'the dataset') from e
    if hasattr(dl, 'dataset'):
        check_dataset_not_empty(dl.dataset, '')
        add_sample_checks(dl.dataset)
    return dl


def install_dataloader_checks(runner) -> None:
    """Route ``runner.build_dataloader`` through
    :func:`build_dataloader_checked` (the loops call it on the runner)."""
    import functools
    runner.build_dataloader = functools.partial(build_dataloader_checked,
                                                runner.build_dataloader)


def check_output_dir_not_input(out_dir: str, dataset_cfg, what='--out'):
    """An output folder must not be one of the dataset's input folders
    (predicted label maps written over the ground truth or the images).

    Raises:
        ValueError: Naming the option, the folder and the fix.
    """
    if not out_dir or not isinstance(dataset_cfg, dict):
        return
    root = dataset_cfg.get('data_root') or ''
    prefix = dataset_cfg.get('data_prefix') or {}
    inputs = [root] + [osp.join(root, v) for v in dict(prefix).values()
                       if isinstance(v, str)]
    out = osp.realpath(out_dir)
    for d in inputs:
        if d and osp.realpath(d) == out:
            raise ValueError(
                f'{what} {out_dir!r} is an input folder of the test dataset '
                f'({d!r}): its files would be overwritten. Give another '
                'folder.')


def check_class_count(model, dataset, split: str) -> None:
    """Raise when the model's vocabulary and the dataset disagree on the
    number of classes (predicted label k would be scored as dataset class k:
    a silently wrong metric).

    Raises:
        ValueError: Naming the class-name source, the dataset and the fix.
    """
    vocab = getattr(_unwrap(model), 'vocabulary', None)
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    if vocab is None or not classes:
        return
    if vocab.num_classes != len(classes):
        raise ValueError(
            f'Class-name source {vocab.source} has {vocab.num_classes} '
            f'classes but the {split} dataset {type(dataset).__name__} has '
            f'{len(classes)} ({", ".join(map(str, classes[:8]))}'
            f'{", ..." if len(classes) > 8 else ""}). Give model.class_names '
            'one line per dataset class, in the dataset\'s order, or set the '
            'dataset\'s metainfo.classes to match.')


def check_checkpoint_matches(model, path: str,
                             allow_shape_mismatch: bool = False) -> None:
    """Read ``path`` (clear error when missing/truncated) and raise when it
    is of another architecture: shape mismatches, or none of its tensors
    named like the model's. (mmengine's ``load_checkpoint`` only warns and
    evaluates the random init.) Partial overlaps are left to mmengine, and
    so are shape mismatches when ``allow_shape_mismatch`` (fine-tuning from
    a checkpoint with another head: ``tools/train.py`` with ``load_from``).

    Raises:
        WeightsNotFoundError: The file does not exist.
        ValueError: The file cannot be read (truncated, not a checkpoint).
        KeyError: The checkpoint does not fit the model.
    """
    if '://' in str(path):
        return
    ckpt = load_torch_file(path, 'checkpoint')
    sd = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict):
        raise ValueError(f'checkpoint {path!r} holds a '
                         f'{type(ckpt).__name__}, not a state dict.')
    sd = {(k[7:] if k.startswith('module.') else k): v
          for k, v in sd.items() if hasattr(v, 'shape')}
    nonfinite = [k for k, v in sd.items()
                 if getattr(v, 'is_floating_point', lambda: False)()
                 and not bool(v.isfinite().all())]
    if nonfinite:
        raise ValueError(
            f'Checkpoint {path!r} has NaN/inf values in {len(nonfinite)} '
            f'tensors (e.g. {nonfinite[:3]}): the training diverged or the '
            'file is corrupt; use an earlier checkpoint.')
    own = _unwrap(model).state_dict()
    if not sd or not own:
        return
    common = set(sd) & set(own)
    bad = [] if allow_shape_mismatch else [
        f'{k}: checkpoint {tuple(sd[k].shape)} vs model '
        f'{tuple(own[k].shape)}' for k in sorted(common)
        if tuple(sd[k].shape) != tuple(own[k].shape)]
    if bad or not common:
        what = ('shape mismatches: ' + '; '.join(bad[:5])) if bad else (
            f'none of its {len(sd)} tensors (e.g. {sorted(sd)[:3]}) is a '
            f'parameter of the model (e.g. {sorted(own)[:3]})')
        raise KeyError(
            f'Checkpoint {path!r} does not fit {type(_unwrap(model)).__name__}'
            f' ({what}). It is probably of another architecture or config: '
            'give the checkpoint trained with this config (work_dir/'
            'iter_*.pth or epoch_*.pth), or convert it (tools/'
            'model_converters/).')


@HOOKS.register_module()
class RunInputChecksHook(Hook):
    """Before the run: datasets not empty, class counts equal, and the
    ``load_from`` checkpoint readable and of this architecture (training
    runs may load a checkpoint whose head has other shapes)."""
    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        from mmengine.runner import BaseLoop
        for split, attr in (('train', '_train_loop'), ('val', '_val_loop'),
                            ('test', '_test_loop')):
            loop = getattr(runner, attr, None)
            if not isinstance(loop, BaseLoop):
                continue
            dataset = loop.dataloader.dataset
            check_dataset_not_empty(dataset, split)
            if split != 'train':
                check_class_count(runner.model, dataset, split)
        load_from = getattr(runner, '_load_from', None)
        if load_from and not getattr(runner, '_resume', False) and \
                osp.splitext(str(load_from))[1] in ('.pth', '.pt', '.ckpt',
                                                    '.bin', ''):
            training = isinstance(getattr(runner, '_train_loop', None),
                                  BaseLoop)
            check_checkpoint_matches(runner.model, load_from,
                                     allow_shape_mismatch=training)
        elif getattr(runner, '_resume', False):
            check_resume_checkpoint(runner, load_from)


def check_resume_checkpoint(runner, load_from) -> None:
    """Read the checkpoint a resumed run will load (``load_from``, or the
    latest one of the work_dir) with the safe loader first: a hostile or
    damaged file is refused with its name (mmengine's own load would only
    relay torch's message, which names no file). ``meta['config']`` text is
    refused too: mmengine 0.10.7's ``Runner.resume`` runs
    ``Config.fromstring`` on it (its own checkpoints store ``meta['cfg']``,
    which it never executes)."""
    from mmengine.runner import find_latest_checkpoint
    path = load_from or find_latest_checkpoint(runner.work_dir)
    if not path or '://' in str(path):
        return
    ckpt = load_torch_file(path, 'resume checkpoint')
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    if isinstance(meta, dict) and 'config' in meta:
        raise ValueError(
            f"resume checkpoint {path!r} holds meta['config'], config text "
            "that mmengine's resume would execute (Config.fromstring); "
            'checkpoints written by mmengine 0.10.7 have no such key. Not '
            "resumed: remove the key (del ckpt['meta']['config']) in a "
            'trusted session, or resume from a checkpoint of your own run.')


WEIGHT_KEYS = ('pretrained', 'checkpoint', 'text_embeddings')


def weight_entries(model_cfg, keys=WEIGHT_KEYS, prefix: str = 'model'
                   ) -> list:
    """``(dotted key, value)`` of every weights-like string entry of a model
    config (``model.backbone.pretrained``, ``model.decode_head.text_encoder.
    pretrained``, ...), in config order."""
    out = []

    def walk(o, path):
        if isinstance(o, dict):
            for k, v in o.items():
                p = f'{path}.{k}'
                if k in keys and isinstance(v, str):
                    out.append((p, v))
                walk(v, p)
        elif isinstance(o, (list, tuple)):
            for i, v in enumerate(o):
                walk(v, f'{path}[{i}]')

    walk(model_cfg.to_dict() if hasattr(model_cfg, 'to_dict') else
         model_cfg, prefix)
    return out


def weights_error_in_config_terms(err: Exception, cfg) -> str:
    """A missing-weights error of a config run, with the config keys that
    name weights (the component's message speaks of its own arguments)."""
    import os.path as osp
    first = str(err).splitlines()[0]
    missing = [(k, v) for k, v in weight_entries(cfg.get('model') or {})
               if not osp.exists(osp.expanduser(v))]
    keys = ', '.join(f'{k}={v!r}' for k, v in missing) or 'model.*.pretrained'
    example = missing[0][0] if missing else 'model.backbone.pretrained'
    return (f'{first}\nWeights this config names that are not local files: '
            f'{keys}. Give each one a local file (or a cached open_clip '
            f'tag): --cfg-options {example}=/path/to/weights')

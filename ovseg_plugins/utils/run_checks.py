"""Checks of a run's inputs that would otherwise fail late or silently.

Called by :class:`~ovseg_plugins.utils.run_input_checks_hook.
RunInputChecksHook`, which our configs list in ``default_hooks``
(``configs/_base_/default_runtime*.py``), so every door that builds a Runner
from them (our tools, mmseg's and mmdet3d's own ``tools/test.py`` /
``train.py``) runs them. Framework-neutral (mmengine only): the checks use
the model's ``vocabulary`` (our OV segmentors) and the datasets'
``metainfo``.
"""
import os
import os.path as osp

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


def check_seg_sample(data_sample, num_classes: int, ignore_index: int = 255,
                     reduce_zero_label: bool = False) -> None:
    """Check one packed 2D sample (a ``SegDataSample``) against its files.

    - label values within the dataset's classes or ``ignore_index``
      (out-of-range values are silently dropped by the IoU histogram);
    - label map of the image's size;
    - :func:`image_file_checks` (EXIF orientation, 12-bit data in 16 bit).

    Raises:
        ValueError: Naming the file and the fix.
    """
    meta = getattr(data_sample, 'metainfo', None) or {}
    img_path = meta.get('img_path')
    seg_path = meta.get('seg_map_path')
    gt = getattr(data_sample, 'gt_sem_seg', None)
    if isinstance(img_path, str):
        image_file_checks(img_path, gt is not None)
    if gt is None:
        return
    label = gt.data
    reduced = '; values after reduce_zero_label, i.e. file value - 1' \
        if reduce_zero_label else ''
    check_label_values(label, num_classes,
                       f'{seg_path} (label of {img_path}{reduced})',
                       ignore_index)
    ori = meta.get('ori_shape')
    sizes = {tuple(meta[k][:2]) for k in ('ori_shape', 'img_shape',
                                          'pad_shape') if k in meta}
    if ori is not None and tuple(label.shape[-2:]) not in sizes:
        raise ValueError(
            f'{seg_path}: label map {tuple(label.shape[-2:])} is not the size '
            f'of its image {img_path} {tuple(ori[:2])}; pair each image with '
            'its own label map.')


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


_IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')


def _point_load_dims(dataset) -> set:
    """``load_dim`` of the dataset pipeline's point loaders (mmdet3d's
    ``LoadPointsFromFile``), read from the built transforms."""
    dims = set()
    for t in getattr(getattr(dataset, 'pipeline', None), 'transforms', []):
        if type(t).__name__ == 'LoadPointsFromFile':
            dims.add(int(getattr(t, 'load_dim', 0)))
    return dims


def scan_dataset_files(dataset, split: str) -> int:
    """Before a run: every file a sample names exists and is not empty,
    images open (header), ``.bin`` point files hold whole points of the
    pipeline's ``load_dim`` float32 columns. mmcv's / mmdet3d's loaders
    fail on these deep in a transform without naming the file
    (``!buf.empty()``, ``cannot reshape array``).

    Returns:
        int: The number of files checked.

    Raises:
        FileNotFoundError: A missing file (named, with its sample).
        ValueError: An empty, unreadable or wrongly sized file (named).
    """
    from PIL import Image
    get = getattr(dataset, 'get_data_info', None)
    if get is None:
        return 0
    dims = _point_load_dims(dataset)
    n = 0
    for i in range(len(dataset)):
        info = get(i)
        lidar = (info.get('lidar_points') or {}).get('lidar_path') \
            if isinstance(info, dict) else None
        for f in _sample_files(info):
            n += 1
            if not osp.isfile(f):
                raise FileNotFoundError(
                    f'{split} sample {i}: {f} does not exist; check data_root '
                    '/ data_prefix / ann_file in the config.')
            size = os.path.getsize(f)
            if size == 0:
                raise ValueError(f'{f}: empty file (0 bytes) in the {split} '
                                 'dataset; re-copy or regenerate it.')
            if f.lower().endswith(_IMAGE_SUFFIXES):
                try:
                    with Image.open(f) as im:
                        im.size  # noqa: B018 - reads the header
                except Exception as e:  # noqa: BLE001 - named below
                    raise ValueError(
                        f'{f}: not a readable image ({type(e).__name__}: '
                        f'{cap_message(e, 200)}); re-copy or regenerate it.'
                    ) from None
            elif f == lidar and f.endswith('.bin') and dims and all(
                    size % (4 * d) for d in dims):  # not the int64 masks
                raise ValueError(
                    f'{f}: {size} bytes is not a whole number of points of '
                    f'{sorted(dims)} float32 values (the pipeline\'s '
                    'LoadPointsFromFile load_dim): the file is truncated or '
                    'of another layout; set load_dim to its column count.')
    return n


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
    model = cfg.get('model') or {}
    missing = [(k, v) for k, v in weight_entries(model)
               if not osp.exists(osp.expanduser(v))]
    keys = ', '.join(f'{k}={v!r}' for k, v in missing) or 'model.*.pretrained'
    example = missing[0][0] if missing else 'model.backbone.pretrained'
    if (model.get('backbone') or {}).get('type') == 'HFSam3':
        what = ('Give SAM 3 a local from_pretrained folder of facebook/sam3 '
                '(config.json, model.safetensors, tokenizer files)')
        value = '/path/to/sam3_folder'
    else:
        what = 'Give each one a local file (or a cached open_clip tag)'
        value = '/path/to/weights'
    return (f'{first}\nWeights this config names that are not local files: '
            f'{keys}. {what}: --cfg-options {example}={value}, or a '
            'checkpoint of the whole model (its weights replace them).')

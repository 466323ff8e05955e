"""Read the tensors of a TorchScript archive without loading its code.

A TorchScript archive (``torch.jit.save``; e.g. OpenAI's original CLIP
``ViT-B-16.pt``) pickles its modules as ``__torch__.<Class>`` objects whose
state holds their parameters and buffers, next to the TorchScript code that
``torch.jit.load`` would compile. :func:`read_torchscript_state_dict`
unpickles ``data.pkl`` with a restricted unpickler (Python's documented
``find_class`` hook): ``__torch__`` classes become inert attribute holders,
tensors are rebuilt from the archive's storages, and every other global is
refused. Nothing of the archive's code is compiled or run.
"""
import pickle
import warnings
import zipfile
from collections import OrderedDict
from typing import Dict

import torch


# typed-container tags of TorchScript pickles (torch/jit/_pickle.py): each
# returns its first argument
_JIT_BUILDERS = ('build_intlist', 'build_tensorlist', 'build_doublelist',
                 'build_boollist', 'restore_type_tag')


def _passthrough(value, *_):
    return value


class _ScriptObject:
    """Inert stand-in of a ``__torch__`` class: keeps its pickled state."""

    def __setstate__(self, state):
        self.state = state


def _storage_types() -> dict:
    return {name: getattr(torch, name) for name in dir(torch)
            if name.endswith('Storage') and isinstance(
                getattr(torch, name), type)}


class _ArchiveUnpickler(pickle.Unpickler):

    def __init__(self, zf: zipfile.ZipFile, prefix: str, path: str):
        self.zf, self.prefix, self.path = zf, prefix, path
        super().__init__(zf.open(f'{prefix}data.pkl'))
        self._storages = _storage_types()

    def find_class(self, module, name):
        if module.startswith('__torch__'):
            return type(name, (_ScriptObject, ),
                        dict(_declared=self._declared(module, name)))
        if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
            return torch._utils._rebuild_tensor_v2
        if (module, name) == ('collections', 'OrderedDict'):
            return OrderedDict
        if module == 'torch.jit._pickle' and name in _JIT_BUILDERS:
            return _passthrough  # typed-list tags: the value as it is
        if module == 'torch' and name in self._storages:
            return self._storages[name]
        raise pickle.UnpicklingError(
            f'{self.path}: global {module}.{name} is not allowed in the '
            'weights of a TorchScript archive')

    def _declared(self, module: str, name: str):
        """The class's ``__parameters__ + __buffers__`` names, read as
        text from its code file (not compiled); None when not found (then
        every tensor attribute counts)."""
        import ast
        import re
        f = f'{self.prefix}code/{module.replace(".", "/")}.py'
        try:
            code = self.zf.read(f).decode('utf-8')
        except (KeyError, UnicodeDecodeError):
            return None
        m = re.search(rf'^class {re.escape(name)}\(Module\):\n'
                      r'  __parameters__ = (\[[^\]]*\])\n'
                      r'  __buffers__ = (\[[^\]]*\])', code, re.M)
        if m is None:
            return None
        try:
            return set(ast.literal_eval(m.group(1))) | set(
                ast.literal_eval(m.group(2)))
        except (ValueError, SyntaxError):
            return None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5
                and pid[0] == 'storage' and pid[1] in
                self._storages.values()):
            raise pickle.UnpicklingError(
                f'{self.path}: unexpected persistent id {pid!r:.80}')
        _, storage_type, key, _, numel = pid
        data = self.zf.read(f'{self.prefix}data/{key}')
        with warnings.catch_warnings():  # legacy storage classes warn
            warnings.simplefilter('ignore')
            dtype = storage_type.dtype
        untyped = torch.UntypedStorage.from_buffer(data, dtype=torch.uint8)
        storage = torch.storage.TypedStorage(wrap_storage=untyped,
                                             dtype=dtype, _internal=True)
        if storage.size() != int(numel):
            raise pickle.UnpicklingError(
                f'{self.path}: storage {key} holds {storage.size()} '
                f'elements, the archive says {numel}')
        return storage


def read_torchscript_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The parameters and buffers of the archive's modules by dotted name
    (those of ``torch.jit.load(path).state_dict()``, which each class
    declares in its code's ``__parameters__`` / ``__buffers__`` lines, read
    as text), without compiling or running any code.

    Raises:
        ValueError: ``path`` is not a TorchScript archive, or it holds
            something other than modules and tensors (the message names the
            file and the global).
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f'{path}: not a TorchScript archive ({e}).') from e
    with zf:
        pkl = [n for n in zf.namelist() if n.endswith('data.pkl')
               and n.count('/') <= 1]
        if not pkl or not any(n.endswith('constants.pkl')
                              for n in zf.namelist()):
            raise ValueError(f'{path}: not a TorchScript archive (no '
                             'data.pkl / constants.pkl).')
        prefix = pkl[0][:-len('data.pkl')]
        try:
            root = _ArchiveUnpickler(zf, prefix, path).load()
        except pickle.UnpicklingError as e:
            raise ValueError(str(e)) from None
    out: Dict[str, torch.Tensor] = OrderedDict()

    def walk(obj, name):
        state = getattr(obj, 'state', None)
        if not isinstance(state, dict):
            return
        declared = getattr(obj, '_declared', None)
        for k, v in state.items():
            key = f'{name}.{k}' if name else str(k)
            if isinstance(v, torch.Tensor):
                if declared is None or k in declared:
                    out[key] = v
            elif isinstance(v, _ScriptObject):
                walk(v, key)

    walk(root, '')
    if not out:
        raise ValueError(f'{path}: the archive holds no module tensors.')
    return out


def torchscript_weights_file(path: str, drop=()) -> str:
    """A plain ``{'state_dict': ...}`` file of an archive's tensors (without
    the keys in ``drop``), written once into the cache folder (keyed by the
    archive's content hash) and loadable with ``weights_only=True``."""
    import os
    import os.path as osp

    from .checkpoint import file_sha256
    from .io import atomic_write
    from .paths import default_cache_dir
    key = file_sha256(path)[:24] + ('-' + '-'.join(sorted(drop))
                                    if drop else '')
    out = osp.join(default_cache_dir(), 'torchscript_weights', f'{key}.pth')
    if not osp.isfile(out):
        sd = read_torchscript_state_dict(path)
        for k in drop:
            sd.pop(k, None)
        os.makedirs(osp.dirname(out), exist_ok=True)
        atomic_write(out, lambda tmp: torch.save(
            {'state_dict': dict(sd)}, tmp), suffix='.pth')
    return out

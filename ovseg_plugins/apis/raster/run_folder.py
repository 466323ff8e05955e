"""An output folder that belongs to the runs that wrote it: one manifest,
one rule for new runs, re-runs and resumed runs.

``<out_dir>/ovseg_run.json`` (the manifest) lists the *jobs* written into
the folder, one per output stem (``scene`` -> ``scene_labels.tif``,
``scene_quicklook.png``, ...): what produced them (``identity``: model,
weights, classes, input, settings that change the labels) and whether they
are finished. Raster jobs keep their finished windows as part files under
``<out_dir>/.ovseg_parts/<stem>/`` until the job is assembled.

The rule, applied to each job of a new run before anything is computed:

* no entry, no file of the stem: a new job;
* an entry with the same identity: finished -> its old output set is removed
  and written again; unfinished (a killed run) -> ``resume=True`` finishes
  it (finished windows are kept), otherwise it is refused;
* an entry with another identity, or files of the stem that no manifest
  lists: refused, naming what differs, unless ``overwrite=True`` (then the
  old set is removed first);
* ``resume=True`` without an unfinished job of the same identity: refused.

One run at a time per folder: the manifest is guarded by an exclusive lock
(``.ovseg_run.lock``, ``fcntl.flock``: released by the kernel when the
process dies, so a killed run never leaves a stale lock); a second run
into the folder is refused while the first holds it. Temporary files of a
killed run (``.tmp_*``) are removed when the folder is opened: they never
look like outputs.
"""
import fcntl
import glob
import hashlib
import json
import os
import os.path as osp
import shutil
import time
from typing import Dict, Iterable, List, Optional, Sequence

from ovseg_plugins.utils.io import atomic_write

MANIFEST = 'ovseg_run.json'
LOCK = '.ovseg_run.lock'
PARTS = '.ovseg_parts'
FORMAT = 'ovseg-run/1'
# every output a job may write: <stem><suffix>
OUTPUT_SUFFIXES = ('_labels.tif', '_labels.png', '_overlay.png',
                   '_quicklook.png', '_scores.tif', '_polygons.geojson',
                   '_polygons.gpkg', '_summary.json')


def identity_digest(identity: dict) -> str:
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_identity(path: str) -> dict:
    """Path, size and modification time of a local input (a URL as is)."""
    if not osp.exists(path):
        return dict(path=path)
    st = os.stat(path)
    return dict(path=osp.abspath(path), size=st.st_size,
                mtime=int(st.st_mtime))


def _differences(old: dict, new: dict) -> List[str]:
    keys = sorted(set(old) | set(new))
    return [f'{k} ({old.get(k)!r} -> {new.get(k)!r})' if len(
        repr(old.get(k)) + repr(new.get(k))) < 160 else k
            for k in keys if old.get(k) != new.get(k)]


def check_no_overlap(inputs: Iterable[str], out_dir: str) -> None:
    """Input folders and the output folder must not contain each other, and
    no input file may be an output of this folder.

    Raises:
        ValueError: Naming the input and the output folder.
    """
    out = osp.realpath(out_dir)
    for item in inputs:
        if '://' in item or item.startswith('/vsi'):
            continue
        real = osp.realpath(item)
        if osp.isdir(item):
            inside = out == real or out.startswith(real + os.sep) or \
                real.startswith(out + os.sep)
            if inside:
                raise ValueError(
                    f'The input folder {item!r} and the output folder '
                    f'{out_dir!r} overlap: a later run would segment these '
                    'outputs as inputs. Give an --out-dir outside the input '
                    'folder (and not containing it).')
        elif osp.dirname(real) == out and any(
                osp.basename(real).endswith(s) for s in OUTPUT_SUFFIXES):
            raise ValueError(
                f'{item!r} is an output of the folder {out_dir!r} (its name '
                'ends like one); segmenting it there would overwrite or '
                'mix outputs. Copy it elsewhere or give another --out-dir.')


def output_stems(files: Sequence[str]) -> Dict[str, str]:
    """One output stem per input: the file name without its extension, or
    with it (``a.tif`` -> ``a_tif``) when two inputs share a stem.

    Raises:
        ValueError: Two inputs with the same file name (from different
            folders) would write the same outputs.
    """
    def base(f):
        return osp.basename(osp.normpath(f.rstrip('/'))) or f

    names: Dict[str, List[str]] = {}
    for f in files:
        names.setdefault(base(f), []).append(f)
    clash = {n: fs for n, fs in names.items() if len(fs) > 1}
    if clash:
        n, fs = next(iter(clash.items()))
        raise ValueError(
            f'Inputs {fs[0]!r} and {fs[1]!r} have the same name {n!r}: '
            'their outputs would overwrite each other. Segment them into '
            'different --out-dir folders, or rename one.')
    stems: Dict[str, List[str]] = {}
    for f in files:
        stems.setdefault(osp.splitext(base(f))[0], []).append(f)
    out = {}
    for stem, fs in stems.items():
        for f in fs:
            ext = osp.splitext(base(f))[1].lstrip('.')
            out[f] = stem if len(fs) == 1 else f'{stem}_{ext}'
    return out


class RunFolder:
    """The output folder of a run (see the module docstring).

    Args:
        out_dir (str): The folder (created).
        owner (str): Tool name for messages (e.g. 'image_demo').
    """

    def __init__(self, out_dir: str, owner: str = 'segment_raster'):
        self.out_dir, self.owner = out_dir, owner
        self.path = osp.join(out_dir, MANIFEST)
        self._lock_fd: Optional[int] = None
        self.jobs: Dict[str, dict] = {}

    # ------------------------------------------------------------ lock
    def open(self) -> 'RunFolder':
        os.makedirs(self.out_dir, exist_ok=True)
        lock = osp.join(self.out_dir, LOCK)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors='replace').strip()
            os.close(fd)
            raise RuntimeError(
                f'{self.owner}: the output folder {self.out_dir!r} is being '
                f'written by another run ({holder or "unknown process"}); '
                'two runs must not share an output folder. Wait for it to '
                'finish or give another --out-dir.') from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f'pid {os.getpid()} since {time.ctime()}'.encode(), 0)
        self._lock_fd = fd
        self._remove_stale_temporaries()
        self.jobs = self._read()
        return self

    def close(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def _remove_stale_temporaries(self) -> None:
        pats = [osp.join(self.out_dir, '.tmp_*'),
                osp.join(self.out_dir, PARTS, '*', '.tmp_*')]
        for p in (f for pat in pats for f in glob.glob(pat)):
            os.remove(p)

    # ------------------------------------------------------------ manifest
    def _read(self) -> Dict[str, dict]:
        if not osp.isfile(self.path):
            return {}
        try:
            with open(self.path) as f:
                data = json.load(f)
            assert data.get('format') == FORMAT
            return dict(data['jobs'])
        except Exception as e:  # noqa: BLE001 - any damage: same advice
            raise ValueError(
                f'{self.path}: not a readable run manifest ({e!r}); it was '
                'damaged or written by something else. Remove it (and the '
                'outputs it described) or give another --out-dir.') from None

    def _write(self) -> None:
        data = dict(format=FORMAT, jobs=self.jobs)

        def write(tmp):
            with open(tmp, 'w') as f:
                json.dump(data, f, indent=1, sort_keys=True, allow_nan=False)

        atomic_write(self.path, write, suffix='.json')

    def parts_dir(self, stem: str) -> str:
        return osp.join(self.out_dir, PARTS, stem)

    def _files_of(self, stem: str) -> List[str]:
        return [osp.join(self.out_dir, stem + s) for s in OUTPUT_SUFFIXES
                if osp.lexists(osp.join(self.out_dir, stem + s))]

    def _remove(self, stem: str, keep_parts: bool = False) -> None:
        for p in self._files_of(stem):
            os.remove(p)
        if not keep_parts:
            shutil.rmtree(self.parts_dir(stem), ignore_errors=True)

    def _decide(self, stem: str, identity: dict, resume: bool,
                overwrite: bool) -> str:
        digest = identity_digest(identity)
        old = self.jobs.get(stem)
        files = self._files_of(stem)
        where = f'{self.owner}: {osp.join(self.out_dir, stem)}_*'
        if old is not None and old.get('digest') != digest:
            if not overwrite:
                diff = '; '.join(_differences(old.get('identity', {}),
                                              identity))
                raise ValueError(
                    f'{where} were written by another command (it differs '
                    f'in: {diff}). Give another --out-dir, or --overwrite '
                    'to replace them.')
            return 'replace'
        if old is None and (files or osp.isdir(self.parts_dir(stem))):
            if not overwrite:
                shown = ', '.join(osp.basename(f) for f in files[:3]) or \
                    osp.join(PARTS, stem)
                raise ValueError(
                    f'{where}: {shown} exist(s) but no run manifest '
                    f'({MANIFEST}) lists them: they are not this run\'s. '
                    'Move them away, give another --out-dir, or --overwrite '
                    'to replace them.')
            return 'replace'
        if old is None:
            return 'new'
        if old.get('status') != 'done':
            if not (resume or overwrite):
                raise ValueError(
                    f'{where}: an unfinished run of this same command is '
                    'here (killed?). Add --resume to finish it (finished '
                    'windows are kept), or --overwrite to start again.')
            return 'resume' if resume else 'replace'
        intact = all(osp.isfile(osp.join(self.out_dir, n))
                     for n in old.get('outputs', []))
        return 'skip' if resume and intact else 'replace'

    def claim(self, jobs: Dict[str, dict], resume: bool = False,
              overwrite: bool = False) -> Dict[str, str]:
        """Apply the rule to every job ``{stem: identity}`` of a run, all
        before changing anything; returns ``{stem: action}`` with action
        'new', 'replace' (the old set removed), 'resume' (finished windows
        kept) or 'skip' (finished by the run being resumed).

        Raises:
            ValueError: A job is refused (the message says why and what to
                give: --resume, --overwrite or another --out-dir), or
                ``resume`` finds nothing to resume.
        """
        actions = {stem: self._decide(stem, ident, resume, overwrite)
                   for stem, ident in jobs.items()}
        if resume and not any(a in ('resume', 'skip')
                              for a in actions.values()):
            raise ValueError(
                f'{self.owner}: nothing to resume in {self.out_dir!r} (no '
                f'run of this command in {self.path}). Run without '
                '--resume.')
        now = time.strftime('%Y-%m-%dT%H:%M:%S')
        for stem, action in actions.items():
            if action == 'skip':
                continue
            if action in ('replace', 'resume'):
                self._remove(stem, keep_parts=action == 'resume')
            self.jobs[stem] = dict(identity=jobs[stem],
                                   digest=identity_digest(jobs[stem]),
                                   status='running', outputs=[], started=now)
        self._write()
        return actions

    def done(self, stem: str, outputs: Sequence[str]) -> None:
        """Record job ``stem`` as finished with its output files; its parts
        are removed."""
        job = self.jobs[stem]
        job.update(status='done',
                   outputs=sorted(osp.basename(p) for p in outputs))
        shutil.rmtree(self.parts_dir(stem), ignore_errors=True)
        self._write()
        parts = osp.join(self.out_dir, PARTS)
        if osp.isdir(parts) and not os.listdir(parts):
            os.rmdir(parts)

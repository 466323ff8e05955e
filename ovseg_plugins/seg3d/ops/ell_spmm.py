"""``out = A · x`` for a sparse ``A`` with exactly K entries per row (the
ELL layout of a kNN affinity: ``A[i, nbr[i, k]] = w[i, k]``), on CPU.

The products of geometry-guided pooling are memory-bound gathers of
neighbour rows. This kernel keeps each output row in L1 while it adds four
scaled neighbour rows per pass (the compiler vectorises the channel loop for
the machine it runs on); its effect on the whole purification is measured by
``tools/analysis_tools/benchmark_geopurify.py --purify-only``.

The C source below is compiled once per machine with the system C compiler
(``cc``, ``-O3 -march=native``) into the project's cache (``ops/`` under
``$OVSEG_CACHE_DIR`` or ``~/.cache/ovseg_plugins``; the file name holds a
hash of the source, the compiler and the CPU; written atomically) and
loaded with :mod:`ctypes`. Without a compiler, or with
``OVSEG_PLUGINS_NO_CC=1``, :func:`ell_spmm_available` is False and callers
use torch's sparse product (same values up to float rounding).
"""
import ctypes
import hashlib
import os
import os.path as osp
import platform
import shutil
import subprocess
import tempfile
from typing import Optional

import torch

from ovseg_plugins.utils.paths import default_cache_dir

__all__ = ['ell_spmm', 'ell_spmm_available']

_SRC = r'''
#include <stdint.h>
#include <string.h>
/* out[i, :] = sum_k w[i, k] * x[nbr[i, k], :], rows [r0, r1); row-major */
void ell_spmm(const int64_t *nbr, const float *w, const float *x, float *out,
              int64_t r0, int64_t r1, int64_t K, int64_t C) {
  for (int64_t i = r0; i < r1; ++i) {
    float *restrict o = out + i * C;
    memset(o, 0, sizeof(float) * C);
    const int64_t *nb = nbr + i * K;
    const float *wi = w + i * K;
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
      const float a0 = wi[k], a1 = wi[k + 1], a2 = wi[k + 2], a3 = wi[k + 3];
      const float *restrict x0 = x + nb[k] * C;
      const float *restrict x1 = x + nb[k + 1] * C;
      const float *restrict x2 = x + nb[k + 2] * C;
      const float *restrict x3 = x + nb[k + 3] * C;
      for (int64_t c = 0; c < C; ++c)
        o[c] += (a0 * x0[c] + a1 * x1[c]) + (a2 * x2[c] + a3 * x3[c]);
    }
    for (; k < K; ++k) {
      const float a = wi[k];
      const float *restrict xr = x + nb[k] * C;
      for (int64_t c = 0; c < C; ++c) o[c] += a * xr[c];
    }
  }
}
'''

_LIB: Optional[ctypes.CDLL] = None
_TRIED = False


def _cpu_key() -> str:
    """The CPU's model and feature flags (``-march=native`` code is only
    valid on the same kind of CPU)."""
    try:
        with open('/proc/cpuinfo') as f:
            lines = [ln for ln in f if ln.startswith(('model name', 'flags'))]
        return ''.join(sorted(set(lines)))
    except OSError:
        return platform.processor() + platform.machine()


def _build() -> Optional[ctypes.CDLL]:
    if os.environ.get('OVSEG_PLUGINS_NO_CC') == '1':
        return None
    cc = shutil.which(os.environ.get('CC', 'cc')) or shutil.which('gcc')
    if cc is None:
        return None
    flags = ['-O3', '-march=native', '-shared', '-fPIC', '-std=c99']
    try:
        version = subprocess.run([cc, '--version'], capture_output=True,
                                 text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    key = hashlib.sha256('\n'.join(
        [_SRC, cc, version, ' '.join(flags), _cpu_key()]).encode()
    ).hexdigest()[:16]
    cache = osp.join(default_cache_dir(), 'ops')
    lib = osp.join(cache, f'ell_spmm_{key}.so')
    if not osp.isfile(lib):
        try:
            os.makedirs(cache, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=cache) as tmp:
                src = osp.join(tmp, 'ell_spmm.c')
                with open(src, 'w') as f:
                    f.write(_SRC)
                out = osp.join(tmp, 'ell_spmm.so')
                r = subprocess.run([cc, *flags, '-o', out, src],
                                   capture_output=True, text=True, timeout=120)
                if r.returncode:
                    return None
                os.replace(out, lib)  # atomic: no half-written library
        except (OSError, subprocess.SubprocessError):
            return None
    try:
        dll = ctypes.CDLL(lib)
    except OSError:
        return None
    P, I64 = ctypes.c_void_p, ctypes.c_int64
    dll.ell_spmm.argtypes = [P, P, P, P, I64, I64, I64, I64]
    dll.ell_spmm.restype = None
    return dll


def _lib() -> Optional[ctypes.CDLL]:
    global _LIB, _TRIED
    if not _TRIED:
        _LIB, _TRIED = _build(), True
    return _LIB


def ell_spmm_available() -> bool:
    """Whether the compiled kernel can be used on this machine."""
    return _lib() is not None


def ell_spmm(nbr: torch.Tensor, weights: torch.Tensor, x: torch.Tensor,
             iterations: int = 1) -> torch.Tensor:
    """``x ← A · x`` ``iterations`` times, ``A[i, nbr[i, k]] =
    weights[i, k]`` (``(A · x)[i] = Σ_k weights[i, k] · x[nbr[i, k]]``).

    Args:
        nbr (Tensor): ``(N, K)`` neighbour indices in ``[0, N)``.
        weights (Tensor): ``(N, K)``.
        x (Tensor): ``(N, C)``.
        iterations (int): Products. Defaults to 1.

    Returns:
        Tensor: ``(N, C)`` float32 (a new tensor).
    """
    lib = _lib()
    if lib is None:
        raise RuntimeError('ell_spmm: no compiled kernel on this machine '
                           '(no C compiler, or OVSEG_PLUGINS_NO_CC=1); check '
                           'ell_spmm_available() first.')
    if nbr.device.type != 'cpu' or x.device.type != 'cpu':
        raise ValueError('ell_spmm runs on CPU tensors')
    N, K = nbr.shape
    if weights.shape != (N, K) or x.ndim != 2 or len(x) != N:
        raise ValueError(f'ell_spmm: nbr {tuple(nbr.shape)}, weights '
                         f'{tuple(weights.shape)}, x {tuple(x.shape)}')
    if N and K and (int(nbr.min()) < 0 or int(nbr.max()) >= N):
        raise ValueError('ell_spmm: neighbour index out of range')
    nbr = nbr.contiguous().long()
    weights = weights.contiguous().float()
    cur = x.float().contiguous().clone()
    if iterations < 1:
        return cur
    nxt = torch.empty_like(cur)
    for _ in range(iterations):
        lib.ell_spmm(nbr.data_ptr(), weights.data_ptr(), cur.data_ptr(),
                     nxt.data_ptr(), 0, N, K, cur.shape[1])
        cur, nxt = nxt, cur
    return cur

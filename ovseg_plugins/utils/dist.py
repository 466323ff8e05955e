"""torch.distributed for the inference tools (rasters in windows, 3D scenes in
blocks), through mmengine's dist helpers.

Launched like the OpenMMLab tools (``torchrun ... --launcher pytorch``, or
``tools/dist_infer.sh``): gloo on CPU, NCCL on GPUs, the same code. Without
a process group every helper is the single-process no-op of mmengine.
"""
import datetime
import os
from typing import Any, Callable, List

import torch
from mmengine import dist as mdist

# generous: ranks wait at barriers while others finish their windows; a rank
# that dies ends the whole job through torchrun, not through this timeout
TIMEOUT_S = int(os.environ.get('OVSEG_DIST_TIMEOUT', 24 * 3600))


def init_dist(launcher: str = 'pytorch') -> str:
    """Join the process group of a ``torchrun`` launch; returns the device
    of this rank ('cuda:<local rank>' or 'cpu')."""
    if launcher != 'pytorch':
        raise ValueError(f"launcher={launcher!r}: use 'none' or 'pytorch'.")
    if 'RANK' not in os.environ:
        raise RuntimeError(
            '--launcher pytorch needs the environment of torchrun (RANK, '
            'WORLD_SIZE...): start it with torchrun --nproc_per_node N '
            'tools/demo/image_demo.py (or pointcloud_demo.py) ... --launcher '
            'pytorch, or tools/dist_infer.sh.')
    timeout = datetime.timedelta(seconds=TIMEOUT_S)
    if torch.cuda.is_available():
        mdist.init_dist('pytorch', backend='nccl', timeout=TIMEOUT_S)
        return f'cuda:{int(os.environ["LOCAL_RANK"])}'
    # mmengine's init_dist calls torch.cuda.set_device: CPU ranks use gloo
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group('gloo', timeout=timeout)
    return 'cpu'


def dist_info():
    """``(rank, world_size)`` (``(0, 1)`` without a process group)."""
    return mdist.get_dist_info()


def barrier() -> None:
    mdist.barrier()


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if dist_info()[1] == 1:
        return obj
    box = [obj]
    mdist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: Any) -> List[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if dist_info()[1] == 1:
        return [obj]
    return mdist.all_gather_object(obj)


def on_main(fn: Callable, *args, **kwargs):
    """Run ``fn`` on rank 0 and give its result (or its error, raised again
    with the same type and message) to every rank."""
    out, err = None, None
    if dist_info()[0] == 0:
        try:
            out = fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - re-raised on every rank
            err = (type(e), str(e))
            if dist_info()[1] == 1:
                raise
    out, err = broadcast((out, err))
    if err is not None:
        raise err[0](err[1])
    return out


class _Local:
    """The same helpers for work done by this process alone (a raster
    segmented by one rank while the others do other rasters)."""

    @staticmethod
    def dist_info():
        return 0, 1

    @staticmethod
    def barrier():
        pass

    @staticmethod
    def gather(obj):
        return [obj]

    @staticmethod
    def on_main(fn, *args, **kwargs):
        return fn(*args, **kwargs)


LOCAL = _Local()

__all__ = ['init_dist', 'dist_info', 'barrier', 'broadcast', 'gather',
           'on_main', 'LOCAL']

"""Peak-memory helpers for the benchmark scripts (Linux /proc, CUDA)."""
import multiprocessing as mp


def status_kb(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    """Reset VmHWM (peak RSS) so it measures from now on (Linux >= 4.0)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def available_mb() -> float:
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemAvailable'):
                return int(line.split()[1]) / 1024
    return float('inf')


def run_isolated(target, *args):
    """Run ``target(*args, queue)`` in a fresh spawned process; return what
    it puts on the queue (peak memory then covers that case alone)."""
    ctx = mp.get_context('spawn')
    q = ctx.Queue()
    p = ctx.Process(target=target, args=args + (q, ))
    p.start()
    out = q.get()
    p.join()
    return out


def median_seconds(fn, repeats: int, device: str = 'cpu') -> float:
    """Median wall time of ``repeats`` calls of ``fn()`` (CUDA: synchronised
    after each call)."""
    import statistics
    import time

    import torch
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)

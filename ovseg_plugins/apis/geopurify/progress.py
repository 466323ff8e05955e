"""Progress of :class:`~ovseg_plugins.apis.GeoPurifyInferencer`: one bar
per stage (rich) and each stage's time."""
import time
from contextlib import contextmanager
from typing import Dict, Iterable, List, Tuple

__all__ = ['StageProgress', 'SizedIterable']


class StageProgress:
    """One progress bar per stage (rich), or silent; records the seconds
    of each stage (``times``) and their spans (``spans``, perf_counter).

    Args:
        enabled (bool): Show the bars.
    """

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._progress = None
        self.times: Dict[str, float] = {}
        self.spans: List[Tuple[str, float, float]] = []

    def __enter__(self):
        if self.enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn,
                                       Progress, TextColumn,
                                       TimeElapsedColumn)
            self._progress = Progress(
                TextColumn('{task.description:<10}'), BarColumn(),
                MofNCompleteColumn(), TimeElapsedColumn(), transient=False)
            self._progress.start()
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    @contextmanager
    def stage(self, name: str, total: int = 1):
        """``with stages.stage('lift', n) as step: ... step()``."""
        task = self._progress.add_task(name, total=total) \
            if self._progress is not None else None
        t0 = time.perf_counter()

        def step(n: int = 1):
            if task is not None:
                self._progress.advance(task, n)

        try:
            yield step
        finally:
            t1 = time.perf_counter()
            self.times[name] = self.times.get(name, 0.) + t1 - t0
            self.spans.append((name, t0, t1))
            if task is not None:
                self._progress.update(task, completed=total)


class SizedIterable:
    """An iterable with a known length (progress totals).

    Args:
        it (Iterable): The items.
        n (int): Their number.
    """

    def __init__(self, it: Iterable, n: int):
        self._it, self._n = it, n

    def __len__(self) -> int:
        return self._n

    def __iter__(self):
        return iter(self._it)

"""Shared start-up of the tools: repo root on sys.path, torch.load compat.

Imports nothing but the standard library, so every tool can run it first.
"""
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def bootstrap() -> str:
    """Put the repo root on ``sys.path`` (configs' ``custom_imports`` then find
    ``ovseg_plugins`` without an install) and let mmengine 0.10.7 load the
    checkpoints its Runner saves under torch >= 2.6 (``weights_only``)."""
    if REPO_ROOT not in sys.path:
        sys.path.insert(0, REPO_ROOT)
    os.environ.setdefault('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    return REPO_ROOT

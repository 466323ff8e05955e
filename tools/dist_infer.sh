#!/usr/bin/env bash
# Usage: tools/dist_infer.sh NPROC INPUT... [image_demo.py args...]
# Window-parallel inference of tools/demo/image_demo.py on NPROC processes of
# this machine (the windows of a raster, or the images / rasters of a folder,
# are shared; labels are byte-identical to one process).
# Env: PORT (or MASTER_PORT, default 29500; 0 = one machine, torchrun
# --standalone binds a free port itself), NNODES, NODE_RANK, MASTER_ADDR
# (several machines: run it on each with the same PORT and MASTER_ADDR, a
# shared --out-dir), PYTHON (interpreter that has torch; default: the
# repository's .venv/bin/python when `make setup` made it, else python).
# Without CUDA the processes use gloo on CPU; with CUDA add --device cuda
# (one GPU per process).
NPROC=$1
PORT=${PORT:-${MASTER_PORT:-29500}}
# paths in the arguments stay relative to the caller's folder
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEFAULT_PYTHON=python
[ -x "$ROOT/.venv/bin/python" ] && DEFAULT_PYTHON=$ROOT/.venv/bin/python
PYTHON=${PYTHON:-$DEFAULT_PYTHON}
RDZV=(--nnodes=${NNODES:-1} --node_rank=${NODE_RANK:-0}
      --master_addr=${MASTER_ADDR:-127.0.0.1} --master_port=$PORT)
[ "$PORT" = "0" ] && RDZV=(--standalone)
exec "$PYTHON" -m torch.distributed.run "${RDZV[@]}" --nproc_per_node=$NPROC \
  "$ROOT/tools/demo/image_demo.py" "${@:2}" --launcher pytorch

#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py args...]
# (pass "none" as CHECKPOINT for training-free models)
# Env: PORT (or MASTER_PORT, default 29500; 0 = one machine, torchrun
# --standalone binds a free port itself, no clash between jobs), NNODES, NODE_RANK, MASTER_ADDR,
# PYTHON (interpreter that has torch; default: the repository's .venv/bin/python
# when `make setup` made it, else python). Without CUDA the
# processes use gloo on CPU (tools/_bootstrap.py).
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
PORT=${PORT:-${MASTER_PORT:-29500}}
cd "$(dirname "$0")/.."
DEFAULT_PYTHON=python
[ -x .venv/bin/python ] && DEFAULT_PYTHON=$PWD/.venv/bin/python
PYTHON=${PYTHON:-$DEFAULT_PYTHON}
CKPT_ARG=()
[ "$CHECKPOINT" != "none" ] && CKPT_ARG=("$CHECKPOINT")
RDZV=(--nnodes=${NNODES:-1} --node_rank=${NODE_RANK:-0}
      --master_addr=${MASTER_ADDR:-127.0.0.1} --master_port=$PORT)
[ "$PORT" = "0" ] && RDZV=(--standalone)
exec "$PYTHON" -m torch.distributed.run "${RDZV[@]}" --nproc_per_node=$NPROC \
  tools/test.py "$CONFIG" "${CKPT_ARG[@]}" --launcher pytorch "${@:4}"

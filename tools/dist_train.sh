#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NPROC [train.py args...]
CONFIG=$1
NPROC=$2
PORT=${PORT:-29500}
cd "$(dirname "$0")/.."
torchrun --nnodes=${NNODES:-1} --node_rank=${NODE_RANK:-0} \
  --master_addr=${MASTER_ADDR:-127.0.0.1} --master_port=$PORT \
  --nproc_per_node=$NPROC tools/train.py "$CONFIG" --launcher pytorch "${@:3}"

"""Worker of test_chunked.py: one scene in blocks, one or several
processes (``torchrun ... --launcher pytorch``); rank 0 saves the labels."""
import argparse
import sys

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument('ply')
    p.add_argument('frames')
    p.add_argument('features')
    p.add_argument('text')
    p.add_argument('out')
    p.add_argument('--block', type=float, default=1.5)
    p.add_argument('--launcher', default='none')
    a = p.parse_args()
    import torch
    torch.set_num_threads(1)
    from ovseg_plugins.apis import GeoPurifyInferencer
    from ovseg_plugins.apis.geopurify.chunked import segment_in_blocks
    inf = GeoPurifyInferencer(
        'wall;floor;bed;table;cabinet;chair;sofa;lamp',
        feature_maps=a.features, text_embeddings=a.text,
        lift_cfg=dict(min_visible=20), show_progress=False)
    res = segment_in_blocks(inf, a.ply, block_size=a.block, overlap=0.5,
                            frames=a.frames, launcher=a.launcher)
    import torch.distributed as dist
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    if res['rank'] == 0:
        pred = res['predictions'][0]
        np.savez(a.out, labels=pred['pts_semantic_mask'],
                 scores=pred['pts_scores'], blocks=res['blocks'],
                 world=res['world_size'])
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""tools/geopurify/text_embeddings.py writes the file the segmentor and
the inferencer read (rows by query name)."""
import os.path as osp
import sys

import torch

from conftest import REPO_ROOT
from ovseg_plugins.utils.checkpoint import load_torch_file

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'geopurify'))

TINY = dict(embed_dim=32, vision_cfg=dict(image_size=32, layers=1, width=32,
                                          patch_size=16, head_width=16),
            text_cfg=dict(context_length=77, vocab_size=49408, width=32,
                          heads=2, layers=1))


def test_file_matches_the_text_tower_and_serves_subsets(tmp_path):
    import open_clip
    import text_embeddings as tool

    from ovseg_plugins.text import encode_queries
    from ovseg_plugins.utils.open_clip_loader import build_open_clip
    torch.manual_seed(0)
    clip, _ = build_open_clip('ovseg-test-tiny-te', None, model_cfg=TINY)
    w = str(tmp_path / 'clip.pt')
    torch.save(clip.state_dict(), w)
    out = str(tmp_path / 'text.pt')
    payload = tool.main(['chair,stool;table;floor', out, '--clip',
                         'ovseg-test-tiny-te', '--clip-weights', w,
                         '--clip-cfg', str(TINY).replace("'", '"')])
    saved = load_torch_file(out)
    assert saved['queries'] == ['chair', 'stool', 'table', 'floor']
    assert saved['classes'] == [['chair', 'stool'], ['table'], ['floor']]
    tok = open_clip.get_tokenizer('ovseg-test-tiny-te')
    clip.eval()
    with torch.no_grad():
        ref = encode_queries(lambda p: clip.encode_text(tok(p)),
                             saved['queries'], ['a {} in a scene'])
    torch.testing.assert_close(saved['text_embeds'], ref)
    torch.testing.assert_close(payload['text_embeds'], ref)
    # a model for a subset of the classes reads its rows by name
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    import ovseg_plugins.seg3d  # noqa: F401
    from mmdet3d.registry import MODELS
    m = MODELS.build(dict(
        type='GeoPurifySegmentor',
        backbone=dict(type='StudentAffinityNet', in_channels=38,
                      hidden_channels=8, embed_dim=4, num_blocks=1),
        class_names='floor;table', fused_channels=32, text_embeddings=out))
    torch.testing.assert_close(m.text_embeds, ref[[3, 2]])


def test_clip_without_weights_writes_nothing(tmp_path):
    import pytest
    import text_embeddings as tool
    out = tmp_path / 'text.pt'
    with pytest.raises(SystemExit, match='--clip ViT-B-16 needs '
                       '--clip-weights'):
        tool.main(['chair;table', str(out), '--clip', 'ViT-B-16'])
    with pytest.raises(SystemExit, match=r'--clip-weights: CLIP weights not '
                       r'found: .*give --clip-weights an existing file'):
        tool.main(['chair;table', str(out), '--clip', 'ViT-B-16',
                   '--clip-weights', str(tmp_path / 'absent.pt')])
    assert not out.exists()

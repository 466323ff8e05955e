"""Write the class text-embedding file of a class list and a CLIP model.

    python tools/geopurify/text_embeddings.py CLASSES OUT.pt \
        --clip ViT-B-16 --clip-weights W.pt [--clip-cfg JSON]
        [--templates "a {} in a scene"] [--template-set NAME]

CLASSES: a class-name file (one class per line, synonyms separated by
commas, e.g. configs/geopurify/class_names/scannet20.txt) or inline
``"chair,stool;table;floor"``. Every synonym is embedded with every
template by the CLIP text tower (unit vectors averaged over templates),
which must be the tower of the 2D model whose features were lifted
(``tools/geopurify/lift_features.py --clip``). OUT.pt holds a dict:
``text_embeds`` (Q, D) float32 in query order, ``queries``, ``classes``
(synonym lists), ``templates`` and ``model``; GeoPurifySegmentor's
``text_embeddings`` and GeoPurifyInferencer read it (rows are picked by
query name, so one file can serve any subset of its classes). Written
atomically.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()


from ovseg_plugins.utils.open_clip_loader import load_clip_cfg  # noqa: E402,F401


def write_text_embeddings(classes, out, clip, clip_weights=None,
                          clip_cfg=None, templates=('a {} in a scene', )):
    """Embed the vocabulary's queries and write ``out``; returns the
    payload dict."""
    import torch

    from ovseg_plugins.text import Vocabulary, encode_queries, get_templates
    from ovseg_plugins.utils.io import atomic_write
    from ovseg_plugins.utils.open_clip_loader import build_open_clip
    vocab = Vocabulary.build(classes)
    tmpl = get_templates(templates if isinstance(templates, str)
                         else list(templates))
    model, _ = build_open_clip(clip, clip_weights, model_cfg=clip_cfg)
    import open_clip
    tok = open_clip.get_tokenizer(clip)
    model.eval()
    with torch.no_grad():
        emb = encode_queries(lambda p: model.encode_text(tok(p)),
                             vocab.queries, tmpl)
    payload = dict(text_embeds=emb.float().cpu(), queries=vocab.queries,
                   classes=vocab.classes, templates=list(tmpl),
                   model=dict(name=clip, weights=clip_weights))
    atomic_write(out, lambda t: torch.save(payload, t), suffix='.pt')
    return payload


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('classes', help='class-name file or "a,b;c"')
    p.add_argument('out', help='output .pt file')
    p.add_argument('--clip', required=True,
                   help='open_clip architecture, e.g. ViT-B-16')
    p.add_argument('--clip-weights', help='local CLIP weights (or an '
                   'open_clip tag already in the cache); required: random '
                   'weights would give meaningless embeddings')
    p.add_argument('--clip-cfg', help='architecture JSON (file or inline) '
                   'for custom towers')
    p.add_argument('--templates', nargs='+', default=['a {} in a scene'],
                   help='prompt templates with one {} (or a template-set '
                   'name of ovseg_plugins.text.templates)')
    args = p.parse_args(argv)
    tmpl = args.templates[0] if len(args.templates) == 1 and \
        '{}' not in args.templates[0] else args.templates
    from ovseg_plugins.utils import WeightsNotFoundError
    from ovseg_plugins.utils.open_clip_loader import (cli_weights_message,
                                                      require_clip_weights)
    require_clip_weights(args.clip, args.clip_weights)
    try:
        payload = write_text_embeddings(args.classes, args.out, args.clip,
                                        args.clip_weights,
                                        load_clip_cfg(args.clip_cfg), tmpl)
    except WeightsNotFoundError as e:
        raise SystemExit(cli_weights_message(e)) from None
    q, d = payload['text_embeds'].shape
    print(f'{len(payload["classes"])} classes, {q} queries x {d} dims -> '
          f'{args.out}')
    return payload


if __name__ == '__main__':
    main()

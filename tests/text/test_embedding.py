import torch
import torch.nn.functional as F

from ovseg_plugins.text import (TextEmbeddingCache, encode_queries,
                                get_templates, text_cache_key)


def fake_encoder(dim=8):
    """Deterministic 'text encoder': a hash of each prompt to a vector."""
    calls = []

    def enc(prompts):
        calls.append(len(prompts))
        out = []
        for p in prompts:
            g = torch.Generator().manual_seed(sum(map(ord, p)) * 31 + len(p))
            out.append(torch.randn(dim, generator=g) * (1 + len(p)))
        return torch.stack(out)

    return enc, calls


def test_openai_templates():
    t = get_templates('openai_imagenet')
    assert len(t) == 80 and t[0] == 'a bad photo of a {}.'
    assert all(x.count('{}') == 1 for x in t)


def test_mean_of_unit_vectors_renormalised():
    enc, _ = fake_encoder()
    templates = ['a {}.', 'the {} here', 'photo of {}']
    emb = encode_queries(enc, ['road', 'tree'], templates, batch_size=2)
    # hand computation
    for i, q in enumerate(['road', 'tree']):
        vecs = F.normalize(enc([t.format(q) for t in templates]), dim=-1)
        ref = F.normalize(vecs.mean(0), dim=-1)
        assert torch.allclose(emb[i], ref, atol=1e-6)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(2))


def test_cache_second_run_does_not_recompute(tmp_path):
    enc, calls = fake_encoder()
    templates = get_templates('simple_imagenet')
    key = text_cache_key('m', 'sha256:abc', ['road', 'tree'], templates)
    cache = TextEmbeddingCache(str(tmp_path))
    a = cache.get_or_compute(key, lambda: encode_queries(enc, ['road', 'tree'], templates))
    n = len(calls)
    cache2 = TextEmbeddingCache(str(tmp_path))
    b = cache2.get_or_compute(key, lambda: encode_queries(enc, ['road', 'tree'], templates))
    assert len(calls) == n and cache2.hits == 1 and cache2.misses == 0
    assert torch.equal(a, b)


def test_cache_key_depends_on_everything():
    base = ('m', 'w', ['a', 'b'], ['{}'])
    k = text_cache_key(*base)
    assert k != text_cache_key('m2', 'w', ['a', 'b'], ['{}'])
    assert k != text_cache_key('m', 'w2', ['a', 'b'], ['{}'])
    assert k != text_cache_key('m', 'w', ['a', 'c'], ['{}'])
    assert k != text_cache_key('m', 'w', ['a', 'b'], ['a {}'])

"""InfoNCE pair sampling against the GeoPurify authors' rule."""
import torch
import torch.nn.functional as F

from ovseg_plugins.seg3d.models.losses import sample_pairs


def _authors_pairs(teacher, knn, anchors, num_macro, num_micro):
    """Positives, macro and micro negatives as the authors' code: one
    similarity matrix, anchor masked for the positive, then anchor and
    positive set to +inf IN PLACE, so that the micro negatives read the
    modified matrix."""
    t = F.normalize(teacher, dim=-1)
    sim = t[anchors] @ t.t()
    s_pos = sim.clone()
    s_pos.scatter_(1, anchors[:, None], float('-inf'))
    pos = s_pos.argmax(1)
    ar = torch.arange(len(anchors))
    sim[ar, anchors] = float('inf')
    sim[ar, pos] = float('inf')
    macro = sim.topk(num_macro, dim=1, largest=False).indices
    nb = knn[anchors]
    micro = nb.gather(1, sim.gather(1, nb).topk(num_micro, dim=1,
                                                largest=False).indices)
    return pos, macro, micro


def test_micro_negatives_never_repeat_the_positive_under_ties():
    # every teacher feature identical: all similarities tie
    N, K, n_micro = 40, 6, 5
    teacher = torch.ones(N, 8)
    # K neighbours per point (never itself) holding the candidate
    # positives 0 and 1: the positive ties with every other neighbour
    rows = []
    for i in range(N):
        cand = [0, 1] + [(i + d) % N for d in range(1, 10)]
        rows.append(list(dict.fromkeys(j for j in cand if j != i))[:K])
    knn = torch.tensor(rows)
    g = torch.Generator().manual_seed(0)
    a, p, n = sample_pairs(teacher, knn, num_anchors=13, num_macro=4,
                           num_micro=n_micro, generator=g)
    micro = n[:, 4:]
    assert not (micro == p[:, None]).any()
    assert not (micro == a[:, None]).any()
    ref_p, ref_macro, ref_micro = _authors_pairs(teacher, knn, a, 4, n_micro)
    assert torch.equal(p, ref_p)
    # the unmasked matrix (our former rule) does pick the positive here
    old = knn[a].gather(1, torch.ones(len(a), K).topk(
        n_micro, dim=1, largest=False).indices)
    assert (old == p[:, None]).any()
    assert torch.equal(micro.sort(1).values, ref_micro.sort(1).values)
    assert torch.equal(n[:, :4].sort(1).values, ref_macro.sort(1).values)


def test_sampling_equals_the_authors_rule_on_random_features():
    g = torch.Generator().manual_seed(1)
    teacher = torch.randn(120, 16, generator=g)
    # coarse teacher values: many exact ties between points
    teacher = teacher.round()
    knn = torch.randint(0, 120, (120, 20), generator=g)
    a, p, n = sample_pairs(teacher, knn, num_anchors=30, num_macro=10,
                           num_micro=6, generator=torch.Generator(
                           ).manual_seed(2))
    ref_p, ref_macro, ref_micro = _authors_pairs(teacher, knn, a, 10, 6)
    assert torch.equal(p, ref_p)
    assert torch.equal(n[:, :10], ref_macro)
    assert torch.equal(n[:, 10:], ref_micro)

"""Small stand-ins shared by the engine tests (no framework datasets)."""
import torch


class ListDataset:
    """A dataset with mmengine's ``full_init`` / ``get_data_info`` API."""

    def __init__(self, n, prefix='img'):
        self.data_list = [dict(img_path=f'/d/{prefix}_{i:04d}.png',
                               seg_map_path=f'/d/{prefix}_{i:04d}_l.png',
                               city='a' if i % 3 else 'b')
                          for i in range(n)]

    def full_init(self):
        pass

    def __len__(self):
        return len(self.data_list)

    def get_data_info(self, i):
        d = dict(self.data_list[i])
        d['sample_idx'] = i
        return d


def write_bank(path, n, dim=6, k=2, h='h0', seed=0):
    g = torch.Generator().manual_seed(seed)
    torch.save(dict(embeddings=torch.randn(n, dim, generator=g),
                    stats=torch.rand(n, k, generator=g) * 2 - 1,
                    data_list_hash=h), path)
    return path

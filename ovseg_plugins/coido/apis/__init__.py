"""CoIDO's phases as library functions (the tools are thin wrappers)."""
from .coido_runner import (PHASES, add_sample_idx, build_phase1_config,
                           build_phase2_config, check_phase_inputs,
                           coido_paths, coido_settings, files_dir, run_coido,
                           set_subset_sampler)
from .feature_extraction import (default_extract_pipeline,
                                 extract_feature_bank, pool_embedding)
from .subset_clustering import cluster_subset

__all__ = [
    'PHASES', 'add_sample_idx', 'build_phase1_config', 'build_phase2_config',
    'check_phase_inputs', 'coido_paths', 'coido_settings', 'files_dir',
    'run_coido', 'set_subset_sampler', 'default_extract_pipeline',
    'extract_feature_bank', 'pool_embedding', 'cluster_subset'
]

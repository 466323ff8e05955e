from .student_affinity_net import StudentAffinityNet

__all__ = ['StudentAffinityNet']

from .coido_selection_hook import CoIDOSelectionHook, write_selection

__all__ = ['CoIDOSelectionHook', 'write_selection']

"""ovseg_plugins/utils/validation.py: the checkers' accept/refuse
boundaries and their messages (field, owner, range)."""
import numpy as np
import pytest
import torch

from ovseg_plugins.utils.validation import (cap_message, check_array,
                                            check_choice, check_int,
                                            check_label_values, check_number,
                                            check_slide, file_errors,
                                            label_dtype, short_repr)


def test_check_int_boundaries():
    assert check_int('k', 3, 'Owner', lo=3, hi=3) == 3
    assert check_int('k', np.int64(5)) == 5
    with pytest.raises(ValueError, match=r'Owner: k=2 is out of range'):
        check_int('k', 2, 'Owner', lo=3)
    for bad in (3.0, '3', True, None):
        with pytest.raises(TypeError, match='Owner: k must be an integer'):
            check_int('k', bad, 'Owner')


def test_check_number_open_and_closed_ends():
    assert check_number('p', 0, lo=0, hi=1) == 0.0
    assert check_number('p', 1, lo=0, hi=1) == 1.0
    with pytest.raises(ValueError, match=r'\(0, inf\]'):
        check_number('s', 0, lo=0, lo_open=True)
    with pytest.raises(ValueError, match='out of range'):
        check_number('p', float('inf'))  # never finite
    with pytest.raises(TypeError, match='must be a number'):
        check_number('p', False)


def test_check_slide():
    assert check_slide(32, 16) == ((32, 32), (16, 16))
    assert check_slide((32, 48), (32, 24)) == ((32, 48), (32, 24))
    assert check_slide(0, 0, allow_zero_crop=True) == ((0, 0), (0, 0))
    with pytest.raises(ValueError, match='slide_stride=.* is larger'):
        check_slide((32, 48), (32, 64), 'X')
    with pytest.raises(ValueError, match='int or an'):
        check_slide((1, 2, 3), 1)


def test_check_choice():
    assert check_choice('mode', 'a', ['a', 'b']) == 'a'
    with pytest.raises(ValueError, match=r"X: mode must be one of \['a'\]"):
        check_choice('mode', 'c', ['a'], 'X')


def test_check_array_shape_finite_zero_rows():
    check_array('e', torch.ones(3, 4), shape=(3, None))
    with pytest.raises(ValueError, match=r'f.pt: e has shape \(3, 4\), '
                       r'expected \(2, N\)'):
        check_array('e', np.ones((3, 4)), 'f.pt', shape=(2, None))
    with pytest.raises(ValueError, match='1 NaN/inf'):
        check_array('e', np.array([1., np.nan]))
    with pytest.raises(ValueError, match=r'rows \[0\] are all zeros'):
        check_array('e', np.zeros((1, 3)), nonzero_rows=True)
    with pytest.raises(TypeError, match='must be an array/tensor'):
        check_array('e', [1, 2])


def test_label_values_and_dtype():
    check_label_values(np.array([0, 5, 255]), 6)
    with pytest.raises(ValueError, match=r'a.png: label values \[6\]'):
        check_label_values(np.array([0, 6]), 6, 'a.png')
    assert label_dtype(255) == np.uint8 and label_dtype(256) == np.uint16


def test_messages_are_capped():
    assert len(short_repr('x' * 10 ** 6)) <= 200
    assert short_repr(np.zeros((2, 3))) == \
        '<ndarray shape=(2, 3) dtype=float64>'
    m = cap_message('y' * 10 ** 6, 2000)
    assert len(m) < 2100 and 'characters cut' in m


def test_file_errors_names_the_file():
    with pytest.raises(ValueError, match="Could not read features 'f.npy' "
                       r'\(IndexError: boom\); regenerate'):
        with file_errors('f.npy', 'features'):
            raise IndexError('boom')
    with pytest.raises(TypeError, match="'f.npy'"):
        with file_errors('f.npy'):
            raise TypeError('bad dtype')
    with pytest.raises(FileNotFoundError, match='^gone$'):  # unchanged
        with file_errors('f.npy'):
            raise FileNotFoundError('gone')

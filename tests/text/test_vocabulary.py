import numpy as np
import pytest

from ovseg_plugins.text import Vocabulary


def test_file_with_synonyms(tmp_path):
    f = tmp_path / 'cls.txt'
    f.write_text('road,parking lot\nbuilding\nlow vegetation\nclutter, background\n\n')
    v = Vocabulary.build(str(f))
    assert v.num_classes == 4
    assert v.queries == ['road', 'parking lot', 'building', 'low vegetation',
                         'clutter', 'background']
    np.testing.assert_array_equal(v.query_to_class, [0, 0, 1, 2, 3, 3])
    assert v.class_names == ['road', 'building', 'low vegetation', 'clutter']


def test_inline_string_and_list_agree():
    a = Vocabulary.build('road;building,roof;tree;car')
    b = Vocabulary.build(['road', ['building', 'roof'], 'tree', 'car'])
    assert a.queries == b.queries
    np.testing.assert_array_equal(a.query_to_class, b.query_to_class)
    np.testing.assert_array_equal(a.query_to_class, [0, 1, 1, 2, 3])


def test_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        Vocabulary.build(str(tmp_path / 'nope.txt'))


def test_empty_file(tmp_path):
    f = tmp_path / 'empty.txt'
    f.write_text('\n\n')
    with pytest.raises(ValueError, match='empty'):
        Vocabulary.build(str(f))


def test_blank_line_inside(tmp_path):
    f = tmp_path / 'cls.txt'
    f.write_text('road\n\nbuilding\n')
    with pytest.raises(ValueError, match=r'cls.txt:2'):
        Vocabulary.build(str(f))


def test_stray_comma(tmp_path):
    f = tmp_path / 'cls.txt'
    f.write_text('road,\nbuilding\n')
    with pytest.raises(ValueError, match=r'cls.txt:1.*stray comma'):
        Vocabulary.build(str(f))


def test_duplicate_class(tmp_path):
    f = tmp_path / 'cls.txt'
    f.write_text('road\nbuilding\nroad\n')
    with pytest.raises(ValueError, match='identical'):
        Vocabulary.build(str(f))


def test_inline_empty_class():
    with pytest.raises(ValueError, match='empty name'):
        Vocabulary.build('road;;tree')

"""Bad inputs: class-name files, inline vocabularies and prompt templates.
Each case: the exact error type, and a message naming the input and the fix
(docs/bad_inputs.md lists them)."""
import pytest

from ovseg_plugins.text import Vocabulary, get_templates

# id -> (file bytes or None for a missing file, error, message fragments)
FILE_CASES = {
    'missing_file': (None, FileNotFoundError,
                     ['not found', 'one class per line']),
    'empty_file': (b'', ValueError, ['is empty', 'one class per line']),
    'whitespace_only_file': (b'\n  \n\n', ValueError,
                             ['is empty', 'one class per line']),
    'duplicate_class_lines': (b'road\nbuilding\nroad\n', ValueError,
                              ['classes 0 and 2 are identical',
                               'must appear once']),
    'synonym_in_two_classes': (b'road,street\nbuilding\nstreet\n', ValueError,
                               ["'street' is a name of both class 0 and "
                                'class 2', 'remove it from one']),
    'blank_line_inside': (b'road\n\nbuilding\n', ValueError,
                          [':2: blank line', 'remove it']),
    'stray_comma': (b'road,\nbuilding\n', ValueError,
                    [':1: empty synonym', 'remove the stray comma']),
    'not_utf8': (b'caf\xe9\nbuilding\n', ValueError,
                 ['not UTF-8', 'save it as UTF-8']),
}


@pytest.mark.parametrize('case', list(FILE_CASES))
def test_class_name_file(tmp_path, case):
    data, exc, frags = FILE_CASES[case]
    path = tmp_path / f'{case}.txt'
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(exc) as e:
        Vocabulary.build(str(path))
    assert type(e.value) is exc
    msg = str(e.value)
    assert str(path) in msg  # names the input
    for f in frags:          # and what is wrong / the fix
        assert f in msg, msg


def test_class_name_file_trailing_blank_lines_are_fine(tmp_path):
    p = tmp_path / 'ok.txt'
    p.write_text('road, parking lot\nbuilding\n\n\n')
    v = Vocabulary.build(str(p))
    assert v.classes == [['road', 'parking lot'], ['building']]


INLINE_CASES = {
    'inline_empty_string': ('', ValueError, ["''", 'is empty',
                                             'at least one class name']),
    'inline_empty_class': ('road;;tree', ValueError,
                           ["'road;;tree'", 'class 1', 'use "a,b;c"']),
    'inline_duplicate_class': (['tree', 'road', 'tree'], ValueError,
                               ['<list>', 'classes 0 and 2 are identical']),
    'list_entry_wrong_type': (['road', 3], TypeError,
                              ['entry 1 is int', 'a list of synonyms']),
    'spec_wrong_type': (42, TypeError,
                        ['from int', 'class-name file path']),
}


@pytest.mark.parametrize('case', list(INLINE_CASES))
def test_inline_vocabulary(case):
    spec, exc, frags = INLINE_CASES[case]
    with pytest.raises(exc) as e:
        Vocabulary.build(spec)
    assert type(e.value) is exc
    for f in frags:
        assert f in str(e.value), str(e.value)


@pytest.mark.parametrize('spec,exc,frags', [
    ('no_such_set', KeyError, ["'no_such_set'", 'choose one of']),
    (['a photo of a thing'], ValueError, ["'a photo of a thing'",
                                          'exactly one "{}"']),
    ([], ValueError, ['empty', 'at least "{}"']),
], ids=['unknown_template_set', 'template_without_braces',
        'empty_template_list'])
def test_prompt_templates(spec, exc, frags):
    with pytest.raises(exc) as e:
        get_templates(spec)
    assert type(e.value) is exc
    for f in frags:
        assert f in str(e.value), str(e.value)

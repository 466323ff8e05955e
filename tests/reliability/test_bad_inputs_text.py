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


def _file_refused(path, data, exc, frags):
    """A class-name file with ``data`` (None: absent) raises exactly
    ``exc``, naming the file and every fragment (what is wrong, the fix)."""
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(exc) as e:
        Vocabulary.build(str(path))
    assert type(e.value) is exc
    msg = str(e.value)
    assert str(path) in msg
    for f in frags:
        assert f in msg, msg


@pytest.mark.parametrize('case', list(FILE_CASES))
def test_class_name_file(tmp_path, case):
    _file_refused(tmp_path / f'{case}.txt', *FILE_CASES[case])


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



# id -> (file bytes, error, message fragments): classes that are the same
# text after case / space normalisation, invisible characters, ";" in a file
NORMALISED_CASES = {
    'duplicate_after_case_folding': (b'Road\nbuilding\nroad\n', ValueError,
                                     ['classes 0 and 2 are identical']),
    'duplicate_after_space_collapsing': (b'parking lot\ntree\nparking  lot\n',
                                         ValueError,
                                         ['classes 0 and 2 are identical']),
    'synonym_in_two_classes_other_case': (b'road,Street\nbuilding\nstreet\n',
                                          ValueError,
                                          ["'street' is a name of both class 0"
                                           ' and class 2', 'ignoring case']),
    'zero_width_space_in_name': ('road\nbuil\u200bding\n'.encode(),
                                 ValueError,
                                 ['invisible characters', 'U+200B',
                                  'retype the name']),
    'semicolon_in_file_line': (b'road;building;tree\n', ValueError,
                               [':1: ";"', 'put each class on its own line']),
}


@pytest.mark.parametrize('case', list(NORMALISED_CASES))
def test_class_name_file_normalised(tmp_path, case):
    _file_refused(tmp_path / f'{case}.txt', *NORMALISED_CASES[case])


def test_class_name_file_utf8_bom_is_stripped(tmp_path):
    """A UTF-8 BOM (Windows editors) was part of class 0's name (another
    text embedding); it is now read as an encoding mark."""
    p = tmp_path / 'bom.txt'
    p.write_bytes(b'\xef\xbb\xbfroad\nbuilding\n')
    v = Vocabulary.build(str(p))
    assert v.classes == [['road'], ['building']]


@pytest.mark.parametrize('spec', ['data/classes.csv', './my_classes',
                                  'configs/names.lst'],
                         ids=['csv_path', 'relative_path', 'lst_path'])
def test_missing_class_file_not_read_as_inline(spec):
    """A path-like string whose file is missing was parsed as an inline
    vocabulary with one class named after the path."""
    with pytest.raises(FileNotFoundError) as e:
        Vocabulary.build(spec)
    assert f'Class-name file not found: {spec!r}' in str(e.value)


def test_list_vocabulary_synonym_wrong_type():
    with pytest.raises(TypeError) as e:
        Vocabulary.build(['road', ['building', 7]])
    assert '<list>: class 1 has a synonym of type int' in str(e.value)


# The rows of docs/bad_inputs.md (written by tools/misc/bad_inputs_doc.py):
# test (with its parametrize id) -> (section, input, behaviour).
BAD_INPUTS_DOC = {
    'test_class_name_file[missing_file]': (
        'text',
        'Class-name file missing',
        '`FileNotFoundError`: "Class-name file not found: \'<path>\'. Give '
        'an existing file with one class per line ..."'),
    'test_class_name_file[empty_file]': (
        'text',
        'Class-name file empty (0 bytes)',
        '`ValueError`: "Class-name file \'<path>\' is empty: write one '
        'class per line ..."'),
    'test_class_name_file[whitespace_only_file]': (
        'text',
        'Class-name file with only blank lines',
        'same `ValueError` as an empty file'),
    'test_class_name_file[duplicate_class_lines]': (
        'text',
        'Duplicate class lines',
        '`ValueError`: "Vocabulary <path>: classes 0 and 2 are identical '
        '...; each class must appear once (put synonyms on one line)"'),
    'test_class_name_file[synonym_in_two_classes]': (
        'text',
        'One synonym in two classes (`road,street` / `street`) — was '
        'silently biased to the first class',
        '`ValueError`: "\'street\' is a name of both class 0 and class 2; '
        '... remove it from one of the lines" (new)'),
    'test_class_name_file[blank_line_inside]': (
        'text',
        'Blank line inside the list (would shift every later class index)',
        '`ValueError`: "<path>:2: blank line inside the class list; ... '
        'remove it"'),
    'test_class_name_file[stray_comma]': (
        'text',
        'Stray comma (`road,`)',
        '`ValueError`: "<path>:1: empty synonym ...; remove the stray '
        'comma"'),
    'test_class_name_file[not_utf8]': (
        'text',
        'Class-name file not UTF-8 (Latin-1 bytes) — was a bare '
        '`UnicodeDecodeError`',
        '`ValueError`: "Class-name file \'<path>\' is not UTF-8 text (...); '
        'save it as UTF-8" (new)'),
    'test_class_name_file_trailing_blank_lines_are_fine': (
        'text',
        'Trailing blank lines at the end of the file',
        'handled: ignored'),
    'test_inline_vocabulary[inline_empty_string]': (
        'text',
        "Inline vocabulary `''`",
        '`ValueError`: "Vocabulary \'\' is empty: give at least one class '
        'name"'),
    'test_inline_vocabulary[inline_empty_class]': (
        'text',
        'Inline vocabulary with an empty class (`road;;tree`)',
        '`ValueError` naming the string, the class and the syntax `"a,b;c"`'),
    'test_inline_vocabulary[inline_duplicate_class]': (
        'text',
        'Duplicate class in a list vocabulary',
        '`ValueError`: "Vocabulary <list>: classes 0 and 2 are identical"'),
    'test_inline_vocabulary[list_entry_wrong_type]': (
        'text',
        'List vocabulary entry of a wrong type (`3`)',
        '`TypeError`: "Vocabulary entry 1 is int; use a string ("a,b") or a '
        'list of synonyms"'),
    'test_inline_vocabulary[spec_wrong_type]': (
        'text',
        '`class_names=42`',
        '`TypeError`: "Cannot build a vocabulary from int; give a '
        'class-name file path, ..."'),
    'test_prompt_templates[unknown_template_set]': (
        'text',
        'Unknown prompt-template set',
        '`KeyError` naming it and the known sets'),
    'test_prompt_templates[template_without_braces]': (
        'text',
        'Template without `{}`',
        '`ValueError`: "Template \'...\' must contain exactly one "{}""'),
    'test_prompt_templates[empty_template_list]': (
        'text',
        'Empty template list',
        '`ValueError`: "Template list is empty; give at least "{}""'),
    'test_class_name_file_normalised[duplicate_after_case_folding]': (
        'text', 'Two classes equal after case folding (`Road` / `road`) - '
        'were two classes with the same embedding',
        '`ValueError`: "Vocabulary <path>: classes 0 and 2 are identical"'),
    'test_class_name_file_normalised[duplicate_after_space_collapsing]': (
        'text', 'Two classes equal after collapsing spaces (`parking lot` / '
        '`parking  lot`)', 'same `ValueError`'),
    'test_class_name_file_normalised[synonym_in_two_classes_other_case]': (
        'text', 'One synonym in two classes in another case (`Street` / '
        '`street`)',
        '`ValueError`: "\'street\' is a name of both class 0 and class 2 '
        '(names are compared ignoring case and spaces)"'),
    'test_class_name_file_normalised[zero_width_space_in_name]': (
        'text', 'Zero-width space inside a class name',
        '`ValueError`: "... contains invisible characters [\'U+200B\']; '
        'retype the name"'),
    'test_class_name_file_normalised[semicolon_in_file_line]': (
        'text', 'Inline syntax `road;building;tree` inside a class-name file '
        '- was ONE class',
        '`ValueError`: "<path>:1: \";\" in ...; put each class on its own '
        'line"'),
    'test_class_name_file_utf8_bom_is_stripped': (
        'text', 'UTF-8 BOM at the start of the class-name file - was part of '
        'class 0\'s name', 'handled: read as an encoding mark (`utf-8-sig`)'),
    'test_missing_class_file_not_read_as_inline[csv_path]': (
        'text', 'Missing `data/classes.csv` - was an inline vocabulary with '
        'one class named after the path',
        '`FileNotFoundError`: "Class-name file not found: \'data/classes.csv'
        '\'"'),
    'test_missing_class_file_not_read_as_inline[relative_path]': (
        'text', 'Missing `./my_classes` (no suffix)',
        'same `FileNotFoundError`'),
    'test_missing_class_file_not_read_as_inline[lst_path]': (
        'text', 'Missing `configs/names.lst`', 'same `FileNotFoundError`'),
    'test_list_vocabulary_synonym_wrong_type': (
        'text', 'List vocabulary with a non-string synonym '
        '(`[\'building\', 7]`) - was turned into the word "7"',
        '`TypeError`: "Vocabulary <list>: class 1 has a synonym of type int"'),
}

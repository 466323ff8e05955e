"""Class-name vocabularies with synonyms.

A class-name file has one class per line; commas separate synonyms of that
class, each of which becomes its own text query. Inline vocabularies use the
same syntax with ``;`` between classes (``"road,parking lot;building;tree"``)
or are lists (``['road', ['building', 'roof'], 'tree']``).
"""
import os.path as osp
import re
import unicodedata
from typing import List, Optional, Sequence, Union

import numpy as np

VocabSpec = Union[str, Sequence[Union[str, Sequence[str]]], 'Vocabulary']

# a string with one of these endings (or a path separator and no ";") names
# a class-name file, never an inline vocabulary
_FILE_SUFFIXES = ('.txt', '.csv', '.names', '.json', '.yaml', '.yml', '.lst',
                  '.list')


def normalize_name(name: str) -> str:
    """Case-folded, NFKC, whitespace collapsed: two names equal under this
    give the same (or nearly the same) text embedding."""
    return re.sub(r'\s+', ' ', unicodedata.normalize('NFKC', name)).strip() \
        .casefold()


def _invisible(name: str) -> List[str]:
    """Control / format characters (zero-width space, BOM, ...) in a name."""
    return sorted({f'U+{ord(c):04X}' for c in name
                   if unicodedata.category(c) in ('Cc', 'Cf')})


class Vocabulary:
    """An ordered list of classes, each with one or more text queries.

    Args:
        classes (list[list[str]]): Synonyms of each class, in class-index order.
        source (str): Where the vocabulary came from (shown in errors).

    Attributes:
        queries (list[str]): All synonyms, flattened, in class order.
        query_to_class (np.ndarray): ``(Q,)`` int64 class index of each query.
    """

    def __init__(self, classes: List[List[str]], source: str = '<inline>'):
        self.source = source
        if len(classes) == 0:
            raise ValueError(
                f'Vocabulary {source} is empty: give at least one class name '
                '(one class per line, synonyms separated by commas).')
        seen = {}
        for i, syns in enumerate(classes):
            if not syns or any(not s for s in syns):
                raise ValueError(
                    f'Vocabulary {source}: class {i} has an empty name '
                    f'({syns!r}); remove blank lines and stray commas.')
            for s in syns:
                if not isinstance(s, str):
                    raise TypeError(
                        f'Vocabulary {source}: class {i} has a synonym of '
                        f'type {type(s).__name__} ({s!r}); use strings.')
                bad = _invisible(s)
                if bad:
                    raise ValueError(
                        f'Vocabulary {source}: class {i} name {s!r} contains '
                        f'invisible characters {bad}; retype the name (they '
                        'change its text embedding).')
            key = tuple(normalize_name(s) for s in syns)
            if key in seen:
                raise ValueError(
                    f'Vocabulary {source}: classes {seen[key]} and {i} are '
                    f'identical ({",".join(syns)!r}); each class must appear '
                    'once (put synonyms on one line, comma-separated).')
            seen[key] = i
        owner = {}
        for i, syns in enumerate(classes):
            for q in syns:
                if owner.setdefault(normalize_name(q), i) != i:
                    q = normalize_name(q)
                    raise ValueError(
                        f'Vocabulary {source}: {q!r} is a name of both class '
                        f'{owner[q]} and class {i} (names are compared '
                        'ignoring case and spaces); a query must belong to '
                        'one class (remove it from one of the lines).')
        self.classes = [list(s) for s in classes]
        self.queries = [q for syns in self.classes for q in syns]
        self.query_to_class = np.array(
            [i for i, syns in enumerate(self.classes) for _ in syns],
            dtype=np.int64)

    # ------------------------------------------------------------ parsing
    @staticmethod
    def _split_synonyms(text: str, strip: bool) -> List[str]:
        parts = text.split(',')
        return [p.strip() for p in parts] if strip else [
            p.strip('\n\r') for p in parts
        ]

    @classmethod
    def from_file(cls, path: str, strip_spaces: bool = True) -> 'Vocabulary':
        """Read a class-name file (one class per line, synonyms by commas).

        Args:
            path (str): The file.
            strip_spaces (bool): Strip spaces around each synonym
                (SegEarth-OV3 does; SegEarth-OV strips only newlines, which
                makes no difference for its files). Defaults to True.
        """
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'Class-name file not found: {path!r}. Give an existing file '
                'with one class per line (synonyms separated by commas), or '
                'an inline list.')
        try:
            # utf-8-sig: a UTF-8 BOM (Windows editors) is not part of the
            # first class name
            with open(path, encoding='utf-8-sig') as f:
                lines = f.read().splitlines()
        except UnicodeDecodeError as e:
            raise ValueError(
                f'Class-name file {path!r} is not UTF-8 text ({e.reason} at '
                f'byte {e.start}); save it as UTF-8 (one class per line).') \
                from e
        # Trailing blank lines are harmless; blank lines inside are errors.
        while lines and not lines[-1].strip():
            lines.pop()
        classes = []
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                raise ValueError(
                    f'{path}:{n}: blank line inside the class list; every '
                    'line is one class, so remove it (or name the class).')
            if ';' in line:
                raise ValueError(
                    f'{path}:{n}: ";" in {line!r}; in a class-name file every '
                    'line is one class and commas separate synonyms (";" is '
                    'the inline-string syntax): put each class on its own '
                    'line.')
            syns = cls._split_synonyms(line, strip_spaces)
            if any(not s.strip() for s in syns):
                raise ValueError(
                    f'{path}:{n}: empty synonym in {line!r}; remove the stray '
                    'comma.')
            classes.append(syns)
        if not classes:
            raise ValueError(
                f'Class-name file {path!r} is empty: write one class per line '
                '(synonyms separated by commas).')
        return cls(classes, source=path)

    @classmethod
    def from_string(cls, text: str) -> 'Vocabulary':
        """Parse ``"road,parking lot;building;tree"`` (``;`` between classes)."""
        items = [c for c in text.split(';')]
        while items and not items[-1].strip():
            items.pop()
        classes = []
        for i, item in enumerate(items):
            syns = [s.strip() for s in item.split(',')]
            if any(not s for s in syns):
                raise ValueError(
                    f'Inline vocabulary {text!r}: class {i} ({item!r}) has an '
                    'empty name; use "a,b;c" (";" between classes, "," '
                    'between synonyms).')
            classes.append(syns)
        return cls(classes, source=repr(text))

    @classmethod
    def build(cls, spec: VocabSpec) -> 'Vocabulary':
        """Build from a file path, an inline string or a list.

        A string is read as a file when it ends with ``.txt`` or names an
        existing file; otherwise it is parsed inline.
        """
        if isinstance(spec, Vocabulary):
            return spec
        if isinstance(spec, str):
            if spec.lower().endswith(_FILE_SUFFIXES) or osp.isfile(spec) or (
                    ';' not in spec and ('/' in spec or osp.sep in spec)):
                return cls.from_file(spec)
            return cls.from_string(spec)
        if isinstance(spec, (list, tuple)):
            classes = []
            for i, item in enumerate(spec):
                if isinstance(item, str):
                    syns = [s.strip() for s in item.split(',')]
                elif isinstance(item, (list, tuple)):
                    syns = [s.strip() if isinstance(s, str) else s
                            for s in item]
                else:
                    raise TypeError(
                        f'Vocabulary entry {i} is {type(item).__name__}; '
                        'use a string ("a,b") or a list of synonyms.')
                classes.append(syns)
            return cls(classes, source='<list>')
        raise TypeError(
            f'Cannot build a vocabulary from {type(spec).__name__}; give a '
            'class-name file path, an inline "a,b;c" string or a list.')

    # ------------------------------------------------------------ accessors
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def class_names(self) -> List[str]:
        """The first synonym of each class (used as the display name)."""
        return [syns[0] for syns in self.classes]

    def __len__(self) -> int:
        return len(self.classes)

    def check_bg_idx(self, bg_idx: Optional[int],
                     current: Optional[int]) -> Optional[int]:
        """The background index after switching a model to this vocabulary.

        Args:
            bg_idx (int, optional): The requested index (None: keep
                ``current``).
            current (int, optional): The model's index; None while the model
                is being built (its own argument check applies).

        Returns:
            int | None: The index (None when ``current`` is None).

        Raises:
            ValueError: The index is not one of this vocabulary's classes.
        """
        if current is None:
            return None
        bg = current if bg_idx is None else bg_idx
        if not 0 <= bg < self.num_classes:
            raise ValueError(
                f'bg_idx={bg} is outside the {self.num_classes} classes '
                f'of {self.source}; pass set_vocabulary(..., bg_idx=i).')
        return int(bg)

    def __repr__(self) -> str:
        return (f'Vocabulary({self.num_classes} classes, {len(self.queries)} '
                f'queries, from {self.source})')

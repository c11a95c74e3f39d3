"""Okapi BM25 ranking over a handful of short documents (tool definitions), in plain Python.

The scores are those of ``rank_bm25.BM25Okapi`` (k1 = 1.5, b = 0.75, a negative IDF replaced
by ``epsilon`` times the mean IDF), which a test checks against that package. The package
itself is not a runtime dependency: it needs numpy (tens of MB in the Lambda bundle) for what
is a few lines over at most a thousand tool definitions, and it has not been released since
2022.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["bm25_scores", "tokenize"]

_WORD = re.compile(r"[A-Za-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def tokenize(text: str) -> list[str]:
    """Lower-case words; ``snake_case``, ``kebab-case`` and ``camelCase`` split into words (tool
    and argument names are written that way, queries in prose)."""
    return [w.lower() for part in _WORD.findall(text) for w in _CAMEL.split(part) if w]


def bm25_scores(
    corpus: Sequence[Sequence[str]],
    query: Sequence[str],
    *,
    k1: float = 1.5,
    b: float = 0.75,
    epsilon: float = 0.25,
) -> list[float]:
    """The BM25 score of ``query`` (tokens) against each document of ``corpus`` (tokens)."""
    n = len(corpus)
    if n == 0:
        return []
    lengths = [len(d) for d in corpus]
    average = sum(lengths) / n or 1.0
    frequencies = [Counter(d) for d in corpus]
    containing: Counter[str] = Counter()
    for f in frequencies:
        containing.update(f.keys())
    idf = {w: math.log(n - c + 0.5) - math.log(c + 0.5) for w, c in containing.items()}
    floor = epsilon * (sum(idf.values()) / len(idf)) if idf else 0.0
    idf = {w: (v if v >= 0 else floor) for w, v in idf.items()}
    scores = []
    for f, length in zip(frequencies, lengths, strict=True):
        score = 0.0
        for word in query:
            tf = f.get(word, 0)
            if tf:
                score += idf[word] * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average))
        scores.append(score)
    return scores

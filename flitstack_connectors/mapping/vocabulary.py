"""Words as map proposal compares them: normalisation, synonyms, similarity.

The vocabulary itself is data (``synonyms.json``); this module reads it and
answers two questions: what are the words of a name or label once
normalised (snake/camel/space split, plurals folded, stop words dropped), and
how alike are two such word lists (exact, synonyms, or string similarity from
``rapidfuzz``).
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Optional

from rapidfuzz import fuzz

VOCABULARY_PATH = Path(__file__).with_name("synonyms.json")

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_FILTER = re.compile(r"\[[^\]]*\]")
_KEEP_S = ("ss", "us", "is", "ics", "sms", "news", "series", "status")

#: score of two names whose words are synonyms of each other
SYNONYM_SCORE = 0.92


def split_words(text: str) -> list[str]:
    """``"primaryEmail_address 2"`` -> ``["primary", "email", "address", "2"]``."""
    return [w for w in _NON_ALNUM.split(_CAMEL.sub(" ", str(text)).lower()) if w]


def singular(word: str) -> str:
    """A plural folded to its singular by English spelling rules (``addresses``
    -> ``address``, ``categories`` -> ``category``, ``notes`` -> ``note``)."""
    if len(word) <= 3 or word.endswith(_KEEP_S):
        return word
    if word.endswith("sses") or word.endswith("xes") or word.endswith("ches") or word.endswith("shes"):
        return word[:-2]
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s"):
        return word[:-1]
    return word


def path_words(path: str) -> list[str]:
    """The words naming a source path: its last segment, or the one before a
    trailing ``id`` (``company.id`` -> ``company``); list filters are dropped."""
    segments = [s for s in _FILTER.sub("", path).split(".") if s]
    if len(segments) > 1 and segments[-1].lower() in ("id", "value"):
        segments.pop()
    return split_words(segments[-1]) if segments else []


@dataclass(frozen=True)
class Match:
    """How alike two names are."""

    score: float
    #: ``exact``, ``synonym``, ``partial`` or ``fuzzy``
    kind: str


class Vocabulary:
    """The contents of ``synonyms.json`` with the operations proposal needs."""

    def __init__(self, data: dict[str, Any]):
        self.data = data
        self.stop_words = frozenset(data.get("stop_words", ()))
        phrase_concepts: dict[tuple[str, ...], set[str]] = {}
        for concept, phrases in data.get("concepts", {}).items():
            for phrase in [concept.replace("_", " "), *phrases]:
                key = tuple(singular(w) for w in split_words(phrase))
                if key:
                    phrase_concepts.setdefault(key, set()).add("@" + concept)
        self.phrase_concepts = {k: frozenset(v) for k, v in phrase_concepts.items()}
        self.max_phrase = max((len(k) for k in self.phrase_concepts), default=1)
        self.object_models: list[dict[str, Any]] = list(data.get("object_models", ()))
        self.field_hints: dict[str, dict[str, list[str]]] = data.get("field_hints", {})
        self.person_name: dict[str, Any] = data.get("person_name", {})
        self.partner_split: dict[str, Any] = data.get("partner_split", {})
        self.skip_source_fields: dict[str, str] = data.get("skip_source_fields", {})
        self.record_values: dict[str, dict[str, list[str]]] = data.get("record_values", {})
        self.model_defaults: dict[str, dict[str, Any]] = data.get("model_defaults", {})
        targets = data.get("target_fields", {})
        self.writable_readonly = frozenset(targets.get("writable_readonly", ()))
        self._never = tuple(targets.get("never", ()))
        self.name_lookup_models = frozenset(data.get("name_lookup_models", ()))
        self.type_compatibility: dict[str, dict[str, float]] = data.get("type_compatibility", {})
        self.header_qualifiers = frozenset(data.get("header_qualifiers", ()))
        self._words_cache: dict[str, tuple[str, ...]] = {}

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "Vocabulary":
        if path is None:
            return default_vocabulary()
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    # -- words -----------------------------------------------------------------
    def words(self, text: str | Iterable[str]) -> tuple[str, ...]:
        """Normalised words: split, singular, stop words dropped (all kept when
        every word is a stop word)."""
        raw = split_words(text) if isinstance(text, str) else [w for t in text for w in split_words(t)]
        key = " ".join(raw)
        cached = self._words_cache.get(key)
        if cached is not None:
            return cached
        folded = [singular(w) for w in raw]
        kept = tuple(w for w in folded if w not in self.stop_words) or tuple(folded)
        self._words_cache[key] = kept
        return kept

    def canon(self, words: tuple[str, ...]) -> tuple[frozenset[str], ...]:
        """Words with each longest known phrase replaced by its concepts.

        Two neighbours naming the same concepts count once: a header that says
        its concept twice ("Website URL", "Cell Mobile") means it once."""
        out: list[frozenset[str]] = []
        i = 0
        while i < len(words):
            for n in range(min(self.max_phrase, len(words) - i), 0, -1):
                concepts = self.phrase_concepts.get(tuple(words[i:i + n]))
                if concepts:
                    if not (out and out[-1] == concepts):
                        out.append(concepts)
                    i += n
                    break
            else:
                out.append(frozenset({words[i]}))
                i += 1
        return tuple(out)

    def header_variants(self, header: str, object_words: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        """Other readings of a compound export header, besides its whole words:

        - each part of a slashed header ("State/Region" -> state, region;
          "Zip/Postal Code" -> zip, postal code);
        - the header without the name of the object it belongs to ("Account
          Name" in an accounts export -> name; "Contact owner" -> owner);
        - the header without a qualifier that names the main one of several
          ("Billing Street" -> street; ``header_qualifiers`` in the vocabulary).
        """
        whole = self.words(header)
        out: list[tuple[str, ...]] = []

        def add(words: tuple[str, ...]) -> None:
            if words and words != whole and words not in out:
                out.append(words)

        if "/" in header:
            for part in header.split("/"):
                add(self.words(part))
        readings = [whole] + list(out)
        for words in readings:
            n = len(object_words)
            if n and len(words) > n and words[:n] == object_words:
                add(words[n:])
        for words in list(readings) + list(out):
            if len(words) > 1 and words[0] in self.header_qualifiers:
                add(words[1:])
        return out

    def concepts(self, words: tuple[str, ...]) -> frozenset[str]:
        return frozenset(c for item in self.canon(words) for c in item if c.startswith("@"))

    def similarity(self, a: tuple[str, ...], b: tuple[str, ...]) -> Match:
        """How alike two normalised names are, from 0 to 1."""
        return _similarity(self, a, b)

    def phrase_words(self, phrases: Iterable[str]) -> list[tuple[str, ...]]:
        return [w for w in (self.words(p) for p in phrases) if w]

    def excluded_target(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self._never)


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    return Vocabulary(json.loads(VOCABULARY_PATH.read_text(encoding="utf-8")))


_SIM_CACHE: dict[tuple[int, tuple[str, ...], tuple[str, ...]], Match] = {}


def _similarity(vocab: Vocabulary, a: tuple[str, ...], b: tuple[str, ...]) -> Match:
    if not a or not b:
        return Match(0.0, "none")
    if a == b:
        return Match(1.0, "exact")
    key = (id(vocab), a, b)
    cached = _SIM_CACHE.get(key)
    if cached is not None:
        return cached
    ca, cb = vocab.canon(a), vocab.canon(b)
    remaining = list(cb)
    matched = 0.0
    for item in ca:
        hit = next((j for j, other in enumerate(remaining) if item & other), None)
        if hit is not None:
            matched += 1.0
            del remaining[hit]
            continue
        # a misspelt or inflected word ("closed" ~ "close") counts for most of a word
        best_j, best = None, 0.0
        for j, other in enumerate(remaining):
            for w in item:
                for v in other:
                    if w.startswith("@") or v.startswith("@"):
                        continue
                    r = fuzz.ratio(w, v)
                    if r > best:
                        best_j, best = j, r
        if best_j is not None and best >= 85:
            matched += 0.8
            del remaining[best_j]
    coverage = 2 * matched / (len(ca) + len(cb))
    if coverage >= 0.999:
        result = Match(SYNONYM_SCORE, "synonym")
    else:
        ratio = fuzz.ratio(" ".join(a), " ".join(b)) / 100
        partial = 0.85 * coverage
        # whole-string similarity speaks for typos and inflections, not for
        # names that merely share a word ("client reference" ~ "client name")
        fuzzy = 0.9 * ratio if ratio >= 0.85 else 0.6 * ratio
        # both names are known concepts and none is shared: different things
        ka = {c for item in ca for c in item if c.startswith("@")}
        kb = {c for item in cb for c in item if c.startswith("@")}
        all_known = all(any(c.startswith("@") for c in item) for item in ca + cb)
        if all_known and ka and kb and not ka & kb:
            fuzzy = min(fuzzy, 0.4)
            partial = min(partial, 0.4)
        result = Match(partial, "partial") if partial >= fuzzy else Match(fuzzy, "fuzzy")
    if len(_SIM_CACHE) > 200_000:
        _SIM_CACHE.clear()
    _SIM_CACHE[key] = result
    return result

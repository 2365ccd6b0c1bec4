"""Term statistics over every stored paper: document frequencies, paper count, field lengths.

IDF comes from here rather than from one day's few dozen papers, so a term weighs the same
from day to day. Document frequencies live in a fixed-size array indexed by a term's hash
bucket: memory stays at 16 MiB however many papers and phrases are stored, merging is an
array addition, and a collision can only make a rare term look slightly less rare. Knows
nothing of subscribers, scores or where the JSON is kept.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from paperfeed.ranking.features import FIELDS, DocFeatures, Field, document_features
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.text import FEATURES_VERSION, feature_hash, feature_hashes

DEFAULT_BUCKET_BITS = 22

FloatArray = npt.NDArray[np.float32]
HashArray = npt.NDArray[np.int64]


class TermStats:
    """Document frequencies of terms and phrases over a set of papers, counted once per paper."""

    def __init__(self, *, bucket_bits: int = DEFAULT_BUCKET_BITS) -> None:
        if not 10 <= bucket_bits <= 28:
            raise ValueError(f"bucket_bits={bucket_bits} is outside 10..28; use the default 22")
        self.bucket_bits = bucket_bits
        self._df = np.zeros(1 << bucket_bits, dtype=np.uint32)
        self._field_terms: dict[Field, int] = dict.fromkeys(FIELDS, 0)
        self._paper_ids: set[str] = set()
        # Counted separately from the ids: statistics read back from the store carry counts
        # only (a list of every stored id would make loading grow with the archive).
        self._n_docs = 0
        # For statistics read from the store: whether a paper is among the counts stored.
        self._counted_elsewhere: Callable[[str], bool] | None = None
        self._idf: FloatArray | None = None

    @classmethod
    def from_documents(
        cls, docs: Iterable[Document], *, bucket_bits: int = DEFAULT_BUCKET_BITS
    ) -> TermStats:
        """Statistics over ``docs`` (papers repeated by id are counted once)."""
        stats = cls(bucket_bits=bucket_bits)
        stats.add(docs)
        return stats

    @property
    def n_docs(self) -> int:
        """How many papers were counted."""
        return self._n_docs

    @property
    def field_terms(self) -> dict[Field, int]:
        """Total length in terms of each field over the counted papers."""
        return dict(self._field_terms)

    def __contains__(self, paper_id: object) -> bool:
        if paper_id in self._paper_ids:
            return True
        # Statistics read from the store ask it rather than hold every stored id.
        counted = self._counted_elsewhere
        return counted is not None and isinstance(paper_id, str) and counted(paper_id)

    def add(self, docs: Iterable[Document]) -> int:
        """Count papers not counted yet; returns how many were new. Safe to call again."""
        added = 0
        for doc in docs:
            if doc.paper_id in self._paper_ids:
                continue
            self.add_features(doc.paper_id, document_features(doc))
            added += 1
        return added

    def add_features(self, paper_id: str, features: DocFeatures) -> None:
        """Count one paper from features already extracted (the index extracts them anyway)."""
        if paper_id in self._paper_ids:
            return
        self._paper_ids.add(paper_id)
        self._count(features, +1)

    def remove_features(self, paper_id: str, features: DocFeatures) -> None:
        """Take out one paper counted earlier with these features (its text has changed since)."""
        self._paper_ids.discard(paper_id)
        self._count(features, -1)

    def _count(self, features: DocFeatures, step: int) -> None:
        self._n_docs += step
        for name, field in features.fields.items():
            self._field_terms[name] += step * field.length
        keys = features.keys()
        if keys:
            buckets = np.unique(self.buckets(np.array(feature_hashes(keys), dtype=np.int64)))
            if step > 0:
                self._df[buckets] += 1
            else:  # never below zero, even if the features were not the ones counted
                self._df[buckets] -= np.minimum(self._df[buckets], 1).astype(np.uint32)
        self._idf = None

    def merge(self, other: TermStats) -> TermStats:
        """Statistics over both sets of papers, which must not overlap (a paper counts once)."""
        if other.bucket_bits != self.bucket_bits:
            raise ValueError(
                f"cannot merge TermStats with {self.bucket_bits} and {other.bucket_bits} bucket "
                "bits; rebuild one of them with the other's bucket_bits"
            )
        shared = self._paper_ids & other._paper_ids
        if shared:
            raise ValueError(
                f"cannot merge TermStats that both count {len(shared)} paper(s), e.g. "
                f"{min(shared)!r}: they would be counted twice; add() the missing papers instead"
            )
        merged = TermStats(bucket_bits=self.bucket_bits)
        merged._df = self._df + other._df
        merged._paper_ids = self._paper_ids | other._paper_ids
        merged._n_docs = self._n_docs + other._n_docs
        merged._field_terms = {f: self._field_terms[f] + other._field_terms[f] for f in FIELDS}
        return merged

    def copy(self) -> TermStats:
        """An independent copy, so adding papers to it leaves this one as it is."""
        clone = TermStats(bucket_bits=self.bucket_bits)
        clone._df = self._df.copy()
        clone._paper_ids = set(self._paper_ids)
        clone._n_docs = self._n_docs
        clone._counted_elsewhere = self._counted_elsewhere
        clone._field_terms = dict(self._field_terms)
        return clone

    def average_length(self, field: Field) -> float:
        """Mean length of ``field`` in terms over the counted papers (1.0 when none)."""
        if not self._n_docs:
            return 1.0
        return max(self._field_terms[field] / self._n_docs, 1.0)

    def buckets(self, hashes: HashArray) -> HashArray:
        """Bucket of each feature hash."""
        return hashes & ((1 << self.bucket_bits) - 1)

    def document_frequency(self, key: str) -> int:
        """How many counted papers contain the term or phrase ``key`` (a stemmed feature key)."""
        return int(self._df[feature_hash(key) & ((1 << self.bucket_bits) - 1)])

    def idf(self, key: str) -> float:
        """IDF of one term or phrase key (see ``idf_table``)."""
        return float(self.idf_table()[feature_hash(key) & ((1 << self.bucket_bits) - 1)])

    def idf_table(self) -> FloatArray:
        """BM25 IDF of every bucket, ``ln(1 + (N - df + 0.5) / (df + 0.5))``; 0 where df is 0.

        A term no stored paper contains gets 0, not the largest weight: it cannot match today's
        papers either, and a typo should not dilute the rest of its topic.
        """
        if self._idf is None:
            df = self._df.astype(np.float64)
            n = float(self._n_docs)
            idf = np.log1p((n - df + 0.5) / (df + 0.5))
            idf[self._df == 0] = 0.0
            self._idf = idf.astype(np.float32)
        return self._idf

    def packed_df(self, *, level: int = 1) -> bytes:
        """The document frequencies as zlib-compressed little-endian uint32 (``from_counts``)."""
        return zlib.compress(self._df.astype("<u4").tobytes(), level)

    @classmethod
    def from_counts(
        cls,
        packed_df: bytes,
        *,
        n_docs: int,
        field_terms: dict[str, int],
        bucket_bits: int = DEFAULT_BUCKET_BITS,
        counted: Callable[[str], bool] | None = None,
    ) -> TermStats:
        """Statistics from stored counts (``packed_df`` output); ``counted`` answers whether a
        paper is among them (``in``), as they hold no list of paper ids."""
        stats = cls(bucket_bits=bucket_bits)
        try:
            df = np.frombuffer(zlib.decompress(packed_df), dtype="<u4").astype(np.uint32)
            if df.shape != stats._df.shape:
                raise ValueError(f"df has {df.size} buckets, expected {stats._df.size}")
            stats._field_terms = {f: int(field_terms[f]) for f in FIELDS}
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise ValueError(
                f"stored TermStats are corrupt ({exc}); rebuild with TermStats.from_documents"
            ) from exc
        stats._df = df
        stats._n_docs = int(n_docs)
        stats._counted_elsewhere = counted
        return stats

    def to_json(self) -> str:
        """Serialise for a cache; ``from_json`` reads it back."""
        packed = base64.b64encode(zlib.compress(self._df.astype("<u4").tobytes(), 6))
        return json.dumps(
            {
                "features_version": FEATURES_VERSION,
                "bucket_bits": self.bucket_bits,
                "field_terms": self._field_terms,
                "n_docs": self._n_docs,
                "paper_ids": sorted(self._paper_ids),
                "df": packed.decode("ascii"),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> TermStats:
        """Read ``to_json`` output; a cache from another tokeniser version is refused."""
        data = _load(text)
        version = data.get("features_version")
        if version != FEATURES_VERSION:
            raise ValueError(
                f"cached TermStats have features_version {version!r}, this code uses "
                f"{FEATURES_VERSION}: the tokeniser changed; rebuild with "
                "TermStats.from_documents(all stored papers)"
            )
        try:
            stats = cls(bucket_bits=int(data["bucket_bits"]))
            raw = zlib.decompress(base64.b64decode(data["df"]))
            df = np.frombuffer(raw, dtype="<u4").astype(np.uint32)
            if df.shape != stats._df.shape:
                raise ValueError(f"df has {df.size} buckets, expected {stats._df.size}")
            stats._df = df
            stats._paper_ids = {str(p) for p in data["paper_ids"]}
            stats._n_docs = int(data.get("n_docs", len(stats._paper_ids)))
            stats._field_terms = {f: int(data["field_terms"][f]) for f in FIELDS}
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise ValueError(
                f"cached TermStats are corrupt ({exc}); rebuild with TermStats.from_documents"
            ) from exc
        return stats


def _load(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"cached TermStats are not JSON ({exc}); rebuild with TermStats.from_documents"
        ) from exc
    if not isinstance(data, dict):
        raise ValueError("cached TermStats are not a JSON object; rebuild them")
    return data

"""JSON-LD @context processing as NGSI-LD needs it: term expansion and IRI compaction.

NGSI-LD payloads are JSON-LD, but a broker only ever expands *terms* (entity types,
attribute names, vocab values) and compacts them back. This module builds an
``ActiveContext`` (a term map plus ``@vocab``) from a list of context items and answers
``expand``/``compact`` from caches. It is I/O free: remote contexts come from a
``loader`` callable supplied by the caller.

The NGSI-LD core context is always in force and its terms win over user terms
(it is ``@protected``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from dosi.errors import BadRequestDataError, LdContextNotAvailableError

NGSILD = "https://uri.etsi.org/ngsi-ld/"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
CORE_CONTEXT_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"
_CORE_URL_RE = re.compile(
    r"^https?://uri\.etsi\.org/ngsi-ld/v1/ngsi-ld-core-context(-v1\.\d+)?\.jsonld$"
)

Loader = Callable[[str], Any]
"""Fetches a remote context document by URL; raises LdContextNotAvailableError."""


def is_core_context_url(url: str) -> bool:
    return bool(_CORE_URL_RE.match(url))


@lru_cache(maxsize=1)
def core_context_document() -> dict[str, Any]:
    """The bundled core context document (``{"@context": {...}}``)."""
    text = (
        resources.files("dosi.data.contexts")
        .joinpath("ngsi-ld-core-context-v1.9.jsonld")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


@dataclass(frozen=True)
class TermDef:
    iri: str
    type: str | None = None  # "@id", "@vocab", "@json", "DateTime", ...
    container: str | None = None


@dataclass
class ActiveContext:
    """A processed context: expand terms to IRIs and compact IRIs back to terms."""

    terms: dict[str, TermDef]
    vocab: str | None
    core_terms: frozenset[str] = frozenset()
    _expand_cache: dict[str, str] = field(default_factory=dict, repr=False)
    _compact_cache: dict[str, str] = field(default_factory=dict, repr=False)
    _reverse: dict[str, str] | None = field(default=None, repr=False)
    _prefixes: list[tuple[str, str]] | None = field(default=None, repr=False)

    def expand(self, term: str) -> str:
        """Expand a term (attribute name, type name, vocab value) to an IRI."""
        hit = self._expand_cache.get(term)
        if hit is not None:
            return hit
        iri = self._expand_uncached(term)
        if len(self._expand_cache) < 100_000:
            self._expand_cache[term] = iri
        return iri

    def _expand_uncached(self, term: str) -> str:
        td = self.terms.get(term)
        if td is not None:
            return td.iri
        if term.startswith("@"):
            return term
        if ":" in term:
            prefix, _, suffix = term.partition(":")
            if suffix.startswith("//"):
                return term  # absolute IRI
            ptd = self.terms.get(prefix)
            if ptd is not None:
                return ptd.iri + suffix
            return term  # absolute IRI with some scheme (urn:, etc.)
        if self.vocab is not None:
            return self.vocab + term
        return term

    def term_def(self, term: str) -> TermDef | None:
        return self.terms.get(term)

    def compact(self, iri: str) -> str:
        """Compact an IRI to the shortest term of this context (or leave it whole)."""
        hit = self._compact_cache.get(iri)
        if hit is not None:
            return hit
        term = self._compact_uncached(iri)
        if len(self._compact_cache) < 100_000:
            self._compact_cache[iri] = term
        return term

    def _compact_uncached(self, iri: str) -> str:
        if self._reverse is None:
            rev: dict[str, str] = {}
            for t, td in self.terms.items():
                cur = rev.get(td.iri)
                if cur is None or _better_term(t, cur):
                    rev[td.iri] = t
            self._reverse = rev
            prefixes = [
                (t, td.iri)
                for t, td in self.terms.items()
                if td.iri.endswith(("/", "#", ":")) and ":" not in t and td.type is None
            ]
            prefixes.sort(key=lambda p: -len(p[1]))
            self._prefixes = prefixes
        term = self._reverse.get(iri)
        if term is not None:
            return term
        if self.vocab and iri.startswith(self.vocab):
            rest = iri[len(self.vocab):]
            if rest and rest not in self.terms and ":" not in rest:
                return rest
        assert self._prefixes is not None
        for prefix, piri in self._prefixes:
            if iri.startswith(piri) and len(iri) > len(piri):
                candidate = f"{prefix}:{iri[len(piri):]}"
                return candidate
        return iri


def _better_term(new: str, cur: str) -> bool:
    if len(new) != len(cur):
        return len(new) < len(cur)
    return new < cur


def _resolve_iri(value: str, terms: dict[str, TermDef], vocab: str | None) -> str:
    if value.startswith("@"):
        return value
    if ":" in value:
        prefix, _, suffix = value.partition(":")
        if suffix.startswith("//"):
            return value
        ptd = terms.get(prefix)
        if ptd is not None:
            return ptd.iri + suffix
        return value
    td = terms.get(value)
    if td is not None:
        return td.iri
    if vocab is not None:
        return vocab + value
    return value


class ContextBuilder:
    """Processes context items in order into a term map."""

    def __init__(self, loader: Loader | None) -> None:
        self.loader = loader
        self.terms: dict[str, TermDef] = {}
        self.vocab: str | None = DEFAULT_VOCAB
        self._loading: set[str] = set()

    def add(self, item: Any, depth: int = 0) -> None:
        if depth > 16:
            raise BadRequestDataError("@context nesting too deep")
        if item is None:
            return
        if isinstance(item, list):
            for sub in item:
                self.add(sub, depth + 1)
            return
        if isinstance(item, str):
            self._add_url(item, depth)
            return
        if isinstance(item, dict):
            self._add_dict(item, depth)
            return
        raise BadRequestDataError(f"invalid @context entry: {item!r}")

    def _add_url(self, url: str, depth: int) -> None:
        if is_core_context_url(url):
            return  # the core context is always applied last
        if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", url):
            raise BadRequestDataError(f"@context entry is not an absolute URL: {url!r}")
        if url in self._loading:
            return
        if self.loader is None:
            raise LdContextNotAvailableError(f"cannot load remote @context {url}")
        self._loading.add(url)
        try:
            doc = self.loader(url)
            if not isinstance(doc, dict) or "@context" not in doc:
                raise LdContextNotAvailableError(f"{url} is not a JSON-LD context document")
            self.add(doc["@context"], depth + 1)
        finally:
            self._loading.discard(url)

    def _add_dict(self, ctx: dict[str, Any], depth: int) -> None:
        if "@import" in ctx and isinstance(ctx["@import"], str):
            self._add_url(ctx["@import"], depth)
        if "@vocab" in ctx:
            v = ctx["@vocab"]
            if v is None:
                self.vocab = None
            elif isinstance(v, str):
                self.vocab = _resolve_iri(v, self.terms, self.vocab) if v else self.vocab
            else:
                raise BadRequestDataError("@vocab must be a string")
        # two passes so prefixes defined later in the same object resolve
        pending = [(k, v) for k, v in ctx.items() if not k.startswith("@")]
        for _ in range(2):
            for key, value in pending:
                td = self._term_def(key, value)
                if td is not None:
                    self.terms[key] = td
                elif value is None:
                    self.terms.pop(key, None)

    def _term_def(self, key: str, value: Any) -> TermDef | None:
        if value is None:
            return None
        if isinstance(value, str):
            return TermDef(_resolve_iri(value, self.terms, self.vocab))
        if isinstance(value, dict):
            raw_id = value.get("@id")
            if raw_id is None:
                if value.get("@reverse"):
                    return None
                iri = _resolve_iri(key, self.terms, self.vocab)
            elif not isinstance(raw_id, str):
                raise BadRequestDataError(f"invalid @id for term {key!r}")
            else:
                iri = _resolve_iri(raw_id, self.terms, self.vocab)
            typ = value.get("@type")
            if isinstance(typ, str) and not typ.startswith("@"):
                typ = _resolve_iri(typ, self.terms, self.vocab)
            cont = value.get("@container")
            if isinstance(cont, list):
                cont = cont[0] if cont else None
            return TermDef(iri, typ if isinstance(typ, str) else None, cont)
        raise BadRequestDataError(f"invalid term definition for {key!r}")


@lru_cache(maxsize=1)
def _core_terms() -> tuple[dict[str, TermDef], str | None]:
    b = ContextBuilder(None)
    b.vocab = None
    b._add_dict(core_context_document()["@context"], 0)
    return dict(b.terms), b.vocab


def build_context(items: Any, loader: Loader | None = None) -> ActiveContext:
    """Build an active context from user context items; the core context is applied on top."""
    b = ContextBuilder(loader)
    b.add(items)
    core, core_vocab = _core_terms()
    terms = dict(b.terms)
    terms.update(core)
    vocab = b.vocab
    return ActiveContext(terms=terms, vocab=vocab, core_terms=frozenset(core))


@lru_cache(maxsize=1)
def core_context() -> ActiveContext:
    """The active context of the core context alone (what applies with no user context)."""
    return build_context(None)

import gzip
import json

import pytest

from mixscale.data.corpora import Recipe, build_domain
from mixscale.data.tokenizer import prepare


def _prose(seed: int, n_docs: int) -> list[str]:
    """Deterministic English-like documents (no third-party text needed)."""
    words = "the a model data mixture scale loss run token domain book news code law step small large".split()
    docs = []
    for d in range(n_docs):
        body = " ".join(words[(seed * 7 + d * 3 + i * i) % len(words)] for i in range(200))
        docs.append(f"Document {d}.\n{body}.")
    return docs


def write_directory_domain(root, seed: int, n_docs: int = 40) -> None:
    """A user's directory in all supported formats: .txt, .jsonl, .jsonl.gz and .parquet (field `text`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    docs = _prose(seed, n_docs)
    root.mkdir(parents=True, exist_ok=True)
    q = len(docs) // 4
    for i, d in enumerate(docs[:q]):
        (root / f"doc{i:03d}.txt").write_text(d)
    (root / "more.jsonl").write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate(docs[q : 2 * q])))
    (root / "zipped.jsonl.gz").write_bytes(
        gzip.compress("\n".join(json.dumps({"text": t}) for t in docs[2 * q : 3 * q]).encode())
    )
    pq.write_table(pa.table({"text": docs[3 * q :]}), root / "table.parquet")


@pytest.fixture
def directory_domain():
    return write_directory_domain


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """Three small domains — two user directories and a slice of Python's own sources — built and tokenized."""
    base = tmp_path_factory.mktemp("corpus")
    write_directory_domain(base / "src_a", seed=1)
    write_directory_domain(base / "src_b", seed=2)
    recipes = [
        Recipe.from_dict(
            "prose_a",
            {"role": "books", "license": "test", "sources": [{"kind": "directory", "path": str(base / "src_a")}]},
        ),
        Recipe.from_dict(
            "prose_b",
            {"role": "news", "license": "test", "sources": [{"kind": "directory", "path": str(base / "src_b")}]},
        ),
        Recipe.from_dict(
            "code",
            {
                "role": "GitHub",
                "license": "PSF-2.0",
                "val_fraction": 0.2,
                "sources": [{"kind": "python-stdlib", "include": ["json/*.py", "email/*.py"]}],
            },
        ),
    ]
    for r in recipes:
        build_domain(r, base / "corpora", base / "cache")
    return prepare(base / "corpora", base / "tokens", vocab_size=300)

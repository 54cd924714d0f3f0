"""Byte-level BPE tokenizer (HF `tokenizers`, trained offline) and the tokenized corpus the trainer reads.

Losses are reported in **bits per byte**: a byte-level BPE token is an exact byte string, so the number of bytes a
prediction covers is the byte length of its target token, and

    bpb = Σ_t nll_t / (ln 2 · Σ_t bytes(token_t)),

which compares across tokenizers and vocabulary sizes. The end-of-document token covers zero bytes.

`prepare(corpora, out)` trains the tokenizer on an equal-size sample of every domain's training split (so no
domain dominates the merges) and writes `<domain>/{train,val}.npy` (uint16 token ids) plus `meta.json` with the
tokenizer hash, the corpus hashes and the per-token byte lengths.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from mixscale.data.corpora import read_documents
from mixscale.errors import ValidationError

EOT = "<|eot|>"


def train_tokenizer(texts: list[str], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def token_bytes(tok: Tokenizer) -> np.ndarray:
    """Byte length of every token id (0 for special tokens): byte-level tokens use one character per byte."""
    lengths = np.zeros(tok.get_vocab_size(), dtype=np.int64)
    for token, i in tok.get_vocab().items():
        lengths[i] = 0 if token == EOT else len(token)
    return lengths


def encode_documents(tok: Tokenizer, docs: list[str]) -> np.ndarray:
    eot = tok.token_to_id(EOT)
    ids: list[int] = []
    for enc in tok.encode_batch(docs):
        ids.extend(enc.ids)
        ids.append(eot)
    return np.asarray(ids, dtype=np.uint16)


@dataclass(frozen=True)
class TokenizedCorpus:
    """Token arrays of every domain (memory-mapped) and the facts needed to report bits per byte."""

    root: Path
    domains: tuple[str, ...]
    vocab_size: int
    token_bytes: np.ndarray
    meta: dict

    @classmethod
    def open(cls, root: str | Path) -> TokenizedCorpus:
        root = Path(root)
        if not (root / "meta.json").is_file():
            raise ValidationError(
                "data", f"{root} holds no tokenized corpus (meta.json); run `mixscale corpus build` first"
            )
        meta = json.loads((root / "meta.json").read_text())
        return cls(root, tuple(meta["domains"]), meta["vocab_size"], np.asarray(meta["token_bytes"]), meta)

    def tokens(self, domain: str, split: str) -> np.ndarray:
        if domain not in self.domains:
            raise ValidationError("mixture", f"unknown domain {domain!r}; the corpus has {list(self.domains)}")
        return np.load(self.root / domain / f"{split}.npy", mmap_mode="r")


def prepare(
    corpora: str | Path,
    out: str | Path,
    domains: list[str] | None = None,
    vocab_size: int = 1024,
    sample_bytes: int = 400_000,
) -> TokenizedCorpus:
    """Train the tokenizer on the built corpora and tokenize every domain's train and validation split."""
    corpora, out = Path(corpora), Path(out)
    if domains is None:
        domains = sorted(p.parent.name for p in corpora.glob("*/manifest.json"))
    if not domains:
        raise ValidationError("corpora", f"no built domains under {corpora}")
    sample: list[str] = []
    for d in domains:
        budget = sample_bytes
        for doc in read_documents(corpora / d / "train.txt"):
            sample.append(doc[:budget])
            budget -= len(doc)
            if budget <= 0:
                break
    tok = train_tokenizer(sample, vocab_size)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    tok_hash = hashlib.sha256((out / "tokenizer.json").read_bytes()).hexdigest()
    manifests = {}
    for d in domains:
        (out / d).mkdir(exist_ok=True)
        for split in ("train", "val"):
            np.save(out / d / f"{split}.npy", encode_documents(tok, read_documents(corpora / d / f"{split}.txt")))
        manifests[d] = json.loads((corpora / d / "manifest.json").read_text())
    meta = {
        "domains": list(domains),
        "vocab_size": tok.get_vocab_size(),
        "tokenizer_sha256": tok_hash,
        "corpus_sha256": {d: m["sha256"] for d, m in manifests.items()},
        "sources": {d: m["sources"] for d, m in manifests.items()},
        "token_bytes": token_bytes(tok).tolist(),
    }
    (out / "meta.json").write_text(json.dumps(meta))
    return TokenizedCorpus.open(out)

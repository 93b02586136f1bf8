"""The README and the pages in docs/: every Python example runs (the same answer every run), the
sweep file is a valid sweep, the links resolve, and the architecture page states every module's
imports as its sources do."""

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


def _check_own_model(out: str) -> None:
    assert re.search(r"s = [+-]\d", out) and "P-cosine" in out
    # the loop reports the realised step's w* beside -s/(alpha z) and Brent's best w, all finite
    values = dict(re.findall(r"(w\* = -s/\(αz\)|w\* of the realised step|best w) = ([+-]?[\d.]+)", out))
    assert len(values) == 3, out


#: what a page's examples must print, beyond running and printing the same twice
CHECKS = {"docs/own-model.md": _check_own_model}


def test_the_own_model_example_is_in_the_docs():
    assert _python_blocks(DOCS / "own-model.md"), "docs/own-model.md has no python example"


@pytest.mark.parametrize("page", [p for p in PAGES if _python_blocks(p)], ids=_name)
def test_every_python_example_runs_and_gives_the_same_answer_every_run(page, capsys):
    """A page's blocks run in order in one namespace, twice, and print the same both times (the
    own-model snippet seeds and fits its network: an unseeded, unfitted nn.Linear gave
    s = -0.083, -2.28, -4.56 and -0.23 in four runs)."""
    outputs = []
    for _ in range(2):
        namespace = {"__name__": "__docs__"}
        for code in _python_blocks(page):
            exec(compile(code, _name(page), "exec"), namespace)
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    CHECKS.get(_name(page), lambda out: None)(outputs[0])


def test_readme_opens_with_the_two_setup_commands():
    text = README.read_text()
    bash = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    assert "neon-theory demo" in bash[0] and "pytest" in bash[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert bash[1].strip() in ci


def test_readme_is_short_and_maps_every_docs_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 120
    assert text.index("## Set-up: two commands") < text.index("## What the demo shows")
    for page in DOCS.glob("*.md"):
        if page.name != "README.md":
            assert f"](docs/{page.name})" in text, f"README's map misses docs/{page.name}"
            assert f"]({page.name})" in (DOCS / "README.md").read_text(), f"docs/README.md misses {page.name}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_relative_link_resolves(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#")[0]
        assert (page.parent / path).exists(), f"{_name(page)} links to {target}, which does not exist"


def _sweep_yaml() -> str:
    found = [m for p in PAGES for m in re.findall(r"cat > sweep.yaml <<'YAML'\n(.*?)YAML\n", p.read_text(), flags=re.S)]
    assert len(found) == 1, "expected one sweep file in the README and docs/"
    return found[0]


def test_the_sweep_file_in_the_docs_is_a_valid_sweep():
    import studies.official_ar.cells  # noqa: F401  (registers ar-cell)
    from neon_theory.run.config import from_yaml
    from neon_theory.run.sweeps import SweepSpec

    spec = from_yaml(SweepSpec, _sweep_yaml())
    assert spec.experiment == "ar-cell"
    assert len(spec.validate()) == len(spec.jobs()) > 1


# ---- docs/architecture.md: every module and what it imports ---------------------------------

ARCHITECTURE = DOCS / "architecture.md"
PROJECT = ("neon_theory", "toy_models", "studies")
#: the folders whose every module the page must list, and the project packages each layer may import
LAYERS = {
    "neon_theory": ("neon_theory",),  # the core engine: not neon_theory.run
    "neon_theory/run": ("neon_theory",),
    "toy_models": ("neon_theory", "toy_models"),  # not neon_theory.run
    "toy_models/images": ("neon_theory", "toy_models"),
}


def _stated_imports() -> dict[str, tuple[set, set]]:
    """module path -> (packages imported at module level, packages imported lazily), as the page says."""
    stated = {}
    for line in ARCHITECTURE.read_text().splitlines():
        m = re.match(r"\| `((?:neon_theory|toy_models)/[\w/]+\.py)` \|.*\| ([^|]*) \|$", line)
        if m:
            eager, _, lazy = m.group(2).partition("lazily")
            stated[m.group(1)] = (set(re.findall(r"`(\w+)`", eager)), set(re.findall(r"`(\w+)`", lazy)))
    return stated


def _imports(path: Path) -> tuple[set, set, set]:
    """(outside packages at module level, outside packages inside functions, project modules)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    eager, lazy, project = set(), set(), set()

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            names = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    names = [".".join(base + [child.module or ""]).rstrip(".")]
                    names += [f"{names[0]}.{a.name}" for a in child.names] if not child.module else []
                else:
                    names = [child.module]
            for name in names:
                top = name.split(".")[0]
                if top in PROJECT:
                    project.add(name)
                elif top not in sys.stdlib_module_names and top != "__future__":
                    (lazy if in_function else eager).add(top)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(path.read_text()), False)
    return eager, lazy - eager, project


def test_the_architecture_page_lists_every_module_with_its_imports():
    stated = _stated_imports()
    modules = [p for folder in LAYERS for p in sorted((ROOT / folder).glob("*.py"))]
    missing = [str(p.relative_to(ROOT)) for p in modules if str(p.relative_to(ROOT)) not in stated]
    assert not missing, f"docs/architecture.md does not list {missing}"
    wrong = {}
    for path in modules:
        name = str(path.relative_to(ROOT))
        eager, lazy, _ = _imports(path)
        if (eager, lazy) != stated[name]:
            wrong[name] = f"imports {sorted(eager)}, lazily {sorted(lazy)}; the page says {sorted(stated[name][0])}, lazily {sorted(stated[name][1])}"
    assert not wrong, wrong
    gone = [name for name in stated if not (ROOT / name).exists()]
    assert not gone, f"docs/architecture.md lists modules that do not exist: {gone}"


#: the study packages a study may import besides its own and the shared modules (docs/architecture.md)
SHARED_STUDY_MODULES = {"common", "presets", "official", "drawing", "scoring"}
STUDY_IMPORTS = {"catalogue": "any", "bench": "any", "plane": {"official_ar"}, "autow": {"gaussian", "official_ar", "official_diffusion", "images"},
                 "directions": {"official_ar", "official_diffusion", "images"}, "neighbours": {"official_diffusion"}}


def test_a_study_imports_no_other_study_but_the_shared_modules():
    if not (ROOT / "studies").is_dir():
        pytest.skip("no studies/ package yet")
    for path in sorted((ROOT / "studies").rglob("*.py")):
        parts = path.relative_to(ROOT / "studies").parts
        own = parts[0] if len(parts) > 1 else None
        allowed = STUDY_IMPORTS.get(own, set())
        for name in _imports(path)[2]:
            if name.startswith("studies.") and allowed != "any":
                study = name.split(".")[1]
                assert study in SHARED_STUDY_MODULES | {own} | allowed, f"{path.relative_to(ROOT)} imports {name} (docs/architecture.md)"


def test_each_layer_imports_only_the_layers_below_it():
    for folder, allowed in LAYERS.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            for name in _imports(path)[2]:
                below = name.split(".")[0] in allowed and not (folder != "neon_theory/run" and name.startswith("neon_theory.run"))
                assert below, f"{path.relative_to(ROOT)} imports {name}, above its layer (docs/architecture.md)"

"""Device hygiene: the tests (and notebooks) stay runnable with NEON_TEST_DEVICE=cuda.

With a CUDA default device (see conftest.py) torch refuses a CPU generator for a draw made
on CUDA, ``.numpy()`` refuses a CUDA tensor, and ``torch.from_numpy`` builds a CPU tensor
whatever the default device.  A CPU run cannot see any of this, so the source is scanned
(``ast``) for:

* random draws: a call of ``randn``, ``rand``, ``randint``, ``randn_like``, ``rand_like``,
  ``multinomial``, ``normal``, ``randperm``, ``bernoulli``, ``poisson`` (``torch.X(...)`` or a
  tensor method) with ``generator=`` and no ``device=``; and the in-place ``exponential_``,
  ``uniform_``, ``normal_`` with ``generator=`` unless the tensor they fill is built right
  there with ``device=``.  Draw through ``neon_theory.rng.draw`` / ``rng.multinomial``
  (the same numbers on every device) or name ``device=g.device``.
* ``.numpy()`` with no ``.cpu()`` (or ``.to("cpu")``) earlier in its chain: write
  ``.cpu().numpy()`` or ``.tolist()``.  A heuristic: a numpy-only value is allow-listed.
* ``torch.from_numpy(...)``: use ``torch.as_tensor``, which follows the default device.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = sorted([*ROOT.glob("tests/**/*.py"), *ROOT.glob("notebooks/*.py")])

DRAWS = {"randn", "rand", "randint", "randn_like", "rand_like", "multinomial", "normal", "randperm", "bernoulli", "poisson"}
IN_PLACE = {"exponential_", "uniform_", "normal_"}
RNG_MODULE = "neon_theory.rng"  # its draw / multinomial draw where the generator lives, then move the result

#: (path, a piece of the offending line) -> why it is fine.  An entry that matches nothing fails the test.
ALLOWED = {
    # the reference draw itself: probs moved to the CPU, drawn with a CPU generator, compared on the CPU
    ("tests/engine/test_device.py", "torch.multinomial(probs.cpu(), 20, True, generator="):
        "owned elsewhere; see report (explicitly on the CPU: fine on any device)",
}


def _keywords(call: ast.Call) -> set:
    return {k.arg for k in call.keywords}


def _rng_aliases(tree: ast.AST) -> tuple[set, set]:
    """Names bound to the neon_theory.rng module, and to functions imported from it."""
    modules, functions = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == RNG_MODULE:
            functions |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "neon_theory":
            modules |= {a.asname or a.name for a in node.names if a.name == "rng"}
        elif isinstance(node, ast.Import):
            modules |= {a.asname for a in node.names if a.name == RNG_MODULE and a.asname}
    return modules, functions


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _is_rng_call(func: ast.AST, modules: set, functions: set) -> bool:
    if isinstance(func, ast.Name):
        return func.id in functions
    return isinstance(func, ast.Attribute) and (_dotted(func.value) in modules or _dotted(func.value) == RNG_MODULE)


def _moved_to_cpu(node: ast.AST) -> bool:
    """A ``.cpu()`` or ``.to("cpu")`` somewhere down the receiver chain of a ``.numpy()``."""
    while isinstance(node, (ast.Call, ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "cpu" or (node.func.attr == "to" and any(isinstance(a, ast.Constant) and a.value == "cpu" for a in node.args)):
                return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return False


def offenders(source: str, path: str) -> list[tuple[str, int, str, str]]:
    """(path, line, rule, the line stripped) for every device-unsafe call in ``source``."""
    tree = ast.parse(source, filename=path)
    lines = source.splitlines()
    modules, functions = _rng_aliases(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func, kw = node.func, _keywords(node)
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        rule = None
        if name in DRAWS and "generator" in kw and "device" not in kw and not _is_rng_call(func, modules, functions):
            rule = f"{name}(generator=...) without device=: use rng.draw / rng.multinomial or device=g.device"
        elif name in IN_PLACE and "generator" in kw and isinstance(func, ast.Attribute):
            receiver = func.value
            if not (isinstance(receiver, ast.Call) and "device" in _keywords(receiver)):
                rule = f".{name}(generator=...) on a tensor not built with device=: build it on g.device (or draw with rng.draw)"
        elif name == "numpy" and isinstance(func, ast.Attribute) and not node.args and not _moved_to_cpu(func.value):
            rule = ".numpy() without .cpu(): use .cpu().numpy() or .tolist()"
        elif name == "from_numpy" and _dotted(func) == "torch.from_numpy":
            rule = "torch.from_numpy builds a CPU tensor: use torch.as_tensor (follows the default device)"
        if rule:
            found.append((path, node.lineno, rule, lines[node.lineno - 1].strip()))
    return sorted(found)


def test_random_draws_and_numpy_conversions_are_device_generic():
    # the scanner itself: each rule fires on a known offender, and the safe spellings pass
    bad = (
        "import torch\nfrom neon_theory.rng import draw, generator\ng = generator(0)\n"
        "a = torch.randn(3, generator=g)\nb = torch.multinomial(p, 2, generator=g)\nc = p.multinomial(2, generator=g)\n"
        "d = torch.empty(3).exponential_(generator=g)\ne = a.numpy()\nf = a.double().numpy()\nh = torch.from_numpy(e)\n"
    )
    assert [line for _, line, _, _ in offenders(bad, "<bad>")] == [4, 5, 6, 7, 8, 9, 10]
    good = (
        "import torch\nfrom neon_theory import rng\nfrom neon_theory.rng import draw, generator, multinomial\ng = generator(0)\n"
        "a = draw(torch.randn, 3, generator=g)\nb = multinomial(p, 2, generator=g)\nc = rng.multinomial(p, 2, generator=g)\n"
        "d = torch.rand(3, generator=g, device=g.device)\ne = torch.empty(3, device=g.device).exponential_(generator=g)\n"
        "f = a.cpu().numpy()\nh = a.detach().cpu().double().numpy()\ni = a[0].to('cpu').numpy()\nj = torch.as_tensor(f)\n"
    )
    assert offenders(good, "<good>") == []

    found, used = [], set()
    for file in SCANNED:
        rel = file.relative_to(ROOT).as_posix()
        for hit in offenders(file.read_text(encoding="utf-8"), rel):
            allowed = {(p, piece) for p, piece in ALLOWED if p == rel and piece in hit[3]}
            used |= allowed
            if not allowed:
                found.append(hit)
    assert not found, "device-unsafe calls (they fail with NEON_TEST_DEVICE=cuda):\n" + "\n".join(
        f"  {path}:{line}: {rule}\n      {text}" for path, line, rule, text in found
    )
    stale = set(ALLOWED) - used
    assert not stale, "allow-list entries that match nothing any more (remove them):\n" + "\n".join(f"  {p}: {piece}" for p, piece in sorted(stale))

"""The README's Python example runs and prints a sensible report."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert re.search(r"s = [+-]\d", out) and "P-cosine" in out


def test_readme_opens_with_the_two_setup_commands():
    text = README.read_text()
    bash = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    assert "neon-theory demo" in bash[0] and "pytest" in bash[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert bash[1].strip() in ci


def test_readme_sweep_file_is_a_valid_sweep():
    import toy_models.drivers.experiments  # noqa: F401
    from neon_theory.run.config import from_yaml
    from neon_theory.run.sweeps import SweepSpec

    yaml_text = re.search(r"cat > sweep.yaml <<'YAML'\n(.*?)YAML\n", README.read_text(), flags=re.S).group(1)
    spec = from_yaml(SweepSpec, yaml_text)
    assert len(spec.validate()) == len(spec.jobs()) > 1

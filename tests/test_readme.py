"""The README's Python example runs and prints a sensible report."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs_and_gives_the_same_answer_every_run(capsys):
    """The own-model snippet seeds and fits its network, so two runs print the same numbers
    (an unseeded, unfitted nn.Linear gave s = -0.083, -2.28, -4.56 and -0.23 in four runs)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    outputs = []
    for _ in range(2):
        for code in blocks:
            exec(compile(code, "README.md", "exec"), {})
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    out = outputs[0]
    assert re.search(r"s = [+-]\d", out) and "P-cosine" in out
    # the loop reports the realised step's w* beside -s/(alpha z) and Brent's best w, all finite
    values = dict(re.findall(r"(w\* = -s/\(αz\)|w\* of the realised step|best w) = ([+-]?[\d.]+)", out))
    assert len(values) == 3, out


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

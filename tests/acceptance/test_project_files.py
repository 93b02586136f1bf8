"""What a researcher cites and may reuse: the licence, the citation file, the changelog, and the
performance page's statement of where the estimator's headline gain applies."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> str:
    return (ROOT / "pyproject.toml").read_text()


def test_the_license_file_is_the_mit_text_that_pyproject_declares():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Permission is hereby granted, free of charge" in text
    assert "WITHOUT WARRANTY OF ANY KIND" in text
    assert re.search(r'^license = "MIT"', _pyproject(), flags=re.M) and 'license-files = ["LICENSE"]' in _pyproject()


def test_the_citation_file_names_the_toolkit_and_the_neon_paper():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    version = re.search(r'^version = "([^"]+)"', _pyproject(), flags=re.M).group(1)
    assert cff["cff-version"].startswith("1.2") and cff["version"] == version and cff["license"] == "MIT"
    assert "neon-theory" in cff["title"] and cff["authors"]
    paper = [r for r in cff["references"] if "2510.03597" in str(r)]
    assert len(paper) == 1 and "Negative Extrapolation" in paper[0]["title"] and paper[0]["authors"]


def test_the_changelog_starts_at_this_version_and_lists_renames():
    text = (ROOT / "CHANGELOG.md").read_text()
    version = re.search(r'^version = "([^"]+)"', _pyproject(), flags=re.M).group(1)
    headings = re.findall(r"^## \[?([^\]\s]+)", text, flags=re.M)
    assert headings and headings[-1] == version  # the oldest entry is this version
    assert re.search(r"renam", text, flags=re.I) and "bound_corrected_first_order" in text


def test_the_readme_states_where_the_variance_reduced_gain_applies():
    lines = (ROOT / "docs" / "performance.md").read_text().splitlines()
    row = next(i for i, line in enumerate(lines) if "variance-reduced" in line and line.startswith("|"))
    scope = next(i for i, line in enumerate(lines) if line.startswith("**Scope of the"))
    assert 0 < scope - row <= 12  # right below the table that holds the row
    assert "known law" in lines[scope] and "finite real data set" in lines[scope] and "plain" in lines[scope]

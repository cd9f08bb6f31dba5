"""Checks of the project's own files: environment recipes agree, notebooks are clean."""
import glob
import json
import os
import re
import subprocess
import sys

import pytest
import yaml  # PyYAML comes with JupyterLab (jupyter-events)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def _name(requirement):
    """'jax[cpu]==0.10.2' -> 'jax'; names compared case- and dash-insensitively."""
    return re.split(r"[\[=<>~! ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def requirements_txt():
    lines = read("requirements.txt").splitlines()
    return {_name(l): l.strip() for l in lines if l.strip() and not l.startswith("#")}


def environment_yml():
    """Conda packages and pip packages of environment.yml, name -> spec."""
    env = yaml.safe_load(read("environment.yml"))
    conda = {_name(d): d for d in env["dependencies"] if isinstance(d, str)}
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)][0]
    conda.pop("python"), conda.pop("pip")
    return conda, {_name(p): p for p in pip if not p.startswith("-e")}


def test_environment_yml_and_requirements_name_the_same_packages():
    conda, pip = environment_yml()
    req = requirements_txt()
    assert set(conda) | set(pip) == set(req), (
        f"only in environment.yml: {sorted(set(conda) | set(pip) - set(req))}; "
        f"only in requirements.txt: {sorted(set(req) - set(conda) - set(pip))}")
    for name, spec in {**conda, **pip}.items():       # and pin the same versions
        version = re.split(r"==?", spec)[-1]
        assert req[name].endswith("==" + version), f"{name}: {spec} vs {req[name]}"


def test_environment_yml_parses_as_expected():
    conda, pip = environment_yml()
    assert "numpy" in conda and "keras" in pip and "jax" in pip


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_is_committed_clean(path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "nbclean.py"), "--check", path],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_was_executed_top_to_bottom(path):
    nb = json.loads(read(path))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    counts = [c["execution_count"] for c in nb["cells"]
              if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert counts == list(range(1, len(counts) + 1)), "re-run it with tools/run_notebooks.py"
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            assert out.get("name") != "stderr", f"stderr output (a warning?): {out.get('text')}"
            assert out["output_type"] != "error" or "raises-exception" in cell["metadata"].get("tags", [])


def test_every_module_is_installed_by_pyproject():
    text = read("pyproject.toml")
    modules = re.search(r"py-modules = \[(.*?)\]", text).group(1)
    for path in glob.glob(os.path.join(ROOT, "*.py")):
        assert f'"{os.path.basename(path)[:-3]}"' in modules, f"{path} missing from py-modules"

"""The notebooks extra is what opening them needs; the test extra has the same, but JupyterLab, to execute them."""

import tomllib

from packaging.requirements import Requirement

from revolt_pipeline_tests.notebooks.pairs import NOTEBOOKS

EXTRAS = tomllib.loads((NOTEBOOKS.parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_the_test_extra_executes_the_notebooks_with_the_notebooks_extras_packages() -> None:
    notebooks = {str(Requirement(line)) for line in EXTRAS["notebooks"]}
    test = {str(Requirement(line)) for line in EXTRAS["test"]}
    assert {Requirement(line).name for line in notebooks - test} == {"jupyterlab"}
    assert {"nbclient", "ipykernel", "jupytext", "matplotlib"} <= {Requirement(line).name for line in notebooks & test}

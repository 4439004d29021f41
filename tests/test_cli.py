"""The `prism` command's own behaviour: its version, what it says about the database, and its refusals."""

from importlib.metadata import version

from click.testing import CliRunner

from prism.cli import main


def test_prism_version_prints_the_installed_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"prism {version('prism')}\n"

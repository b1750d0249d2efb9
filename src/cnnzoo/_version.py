"""The package version, defined here only (pyproject.toml reads it; cnnzoo.__version__ and
`cnnzoo --version` import it)."""
__version__ = "0.2.0"

"""mtl-laws: find the laws of multitask learning by experiment."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mtllaws")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

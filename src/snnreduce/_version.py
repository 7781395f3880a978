"""The installed snnreduce version, recorded in every Result and sweep (bottom layer)."""

from importlib.metadata import PackageNotFoundError, version as _package_version

__all__ = ["__version__"]

try:
    __version__ = _package_version("snnreduce")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

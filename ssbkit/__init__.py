"""ssbkit: atomistic interface stability and Li diffusion for solid-state batteries."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ssbkit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from ssbkit.errors import SsbkitError

__all__ = ["SsbkitError", "__version__"]

"""resultflow: typed workflows built from Result values."""

from resultflow._version import __version__
from resultflow.result import Err, Ok, Result, UnwrapError, is_err, is_ok

__all__ = ["Err", "Ok", "Result", "UnwrapError", "__version__", "is_err", "is_ok"]

"""User-facing errors.

Anything the user can fix (a missing file, a bad recipe key, an unknown method) raises
:class:`UserError`. The CLI prints it as one line ``vsrzoo: error: ...`` and exits 2;
everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """An error caused by user input; its message is shown as-is, without a traceback."""


class MissingWeightsError(UserError, FileNotFoundError):
    """A weight file or checkpoint that is needed is not on disk."""


class BadWeightsError(MissingWeightsError):
    """A weight file is on disk but cannot be used (unreadable, refused, or not for this network)."""


class MissingDataError(UserError, FileNotFoundError):
    """A dataset or video that is needed is not on disk."""


class MissingExtraError(UserError, ImportError):
    """A feature needs a package that the base install leaves out (``pip install "vsrzoo[EXTRA]"``)."""


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``name`` (for 'did you mean' hints), or None."""
    matches = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown(kind: str, name: str, choices: Iterable[str]) -> UserError:
    """A UserError for an unknown ``kind`` named ``name`` that lists the valid choices."""
    choices = sorted(choices)
    hint = closest(name, choices)
    msg = f"unknown {kind} '{name}'"
    if hint:
        msg += f" (did you mean '{hint}'?)"
    return UserError(f"{msg}; valid: {', '.join(choices)}")

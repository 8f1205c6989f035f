"""Every user-facing error of the simulator, in one place.

The command line prints an error's one-line message and exits with code 2;
the library raises them.  Each names what was wrong (a file, a dotted key, an
option), the value and what is allowed.  Nothing here imports the rest of the
package: any module may import this one.
"""

import re

__all__ = [
    "BatchError",
    "DaskError",
    "ReportError",
    "ScenarioError",
    "TargetError",
    "UnreachableError",
    "UsageError",
    "UserError",
]


#: numpy scalars' reprs (``np.str_('zhipu')``, ``np.float64(0.5)``), shown to a user as their plain values.
_NUMPY_REPR = re.compile(r"\bnp\.(?:str_|bytes_|bool_?|u?int\d*|float\d*|complex\d*|longdouble)\(([^()]*)\)")


class UserError(ValueError):
    """Bad input from the user (a file, a key, a value, an option); the message is one line.

    A message may hold several lines when several things are wrong at once (every
    error of a scenario file), one line each.  Values in a message read as a user
    wrote them: a numpy scalar's repr (``np.str_('zhipu')``) is shown as its value
    (``'zhipu'``), whichever code built the message.
    """

    def __init__(self, *args: object) -> None:
        if args and isinstance(args[0], str):
            args = (_NUMPY_REPR.sub(r"\1", args[0]), *args[1:])
        super().__init__(*args)


class UsageError(UserError):
    """A command-line error (an option, a combination of options); the message is one line."""


class ScenarioError(UserError):
    """A scenario file or override is invalid; the message is one line."""


class TargetError(UserError):
    """A target is malformed or names something the scenario does not have."""


class UnreachableError(UserError):
    """No parameter value in the given ranges reproduces the target."""


class ReportError(UserError):
    """A Dataset cannot give the figure or report asked for; the message is one line."""


class BatchError(UserError):
    """A batch-level user error (output folder in use, ...); one line."""


class DaskError(UserError):
    """The cluster cannot be reached or used; the message is one line."""

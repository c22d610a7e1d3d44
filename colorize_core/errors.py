"""One family for every error chromasweep raises on purpose.

Each says in its message what was refused (the file, key or value) and what was expected, so a caller
that only reports it (the command line) catches ``ChromasweepError`` and prints the message; callers
that recover catch the subclass they can recover from. Each subclass keeps the builtin base it had
(``ValueError`` for refused input, ``RuntimeError`` for failed work), for code that catches those.
"""


class ChromasweepError(Exception):
    """A refusal or failure whose message names what was wrong and what to do."""

"""One family for every error chromasweep raises on purpose.

Each says in its message what was refused (the file, key or value) and what was expected, so a caller
that only reports it (the command line) catches ``ChromasweepError`` and prints the message; callers
that recover catch the subclass they can recover from. Each subclass keeps the builtin base it had
(``ValueError`` for refused input, ``RuntimeError`` for failed work), for code that catches those.
"""


class ChromasweepError(Exception):
    """A refusal or failure whose message names what was wrong and what to do."""


def describe_invalid(err, place=None, show_input: bool = False) -> str:
    """A pydantic ``ValidationError`` as one line: every violation as 'where: what was expected',
    joined by '; '. ``place(error)`` names where (default: the dotted key path, validator frames left
    out; one ending in '.' is continued by the message); ``show_input`` adds the value that was refused."""
    parts = []
    for error in err.errors():
        message = error_message(error)
        if show_input and error["type"] != "missing" and not isinstance(error.get("input"), dict):
            message += f" (got {error.get('input')!r})"
        where = (place or key_path)(error)
        # A place ending in '.' is a prefix of a path the message itself begins with.
        parts.append(f"{where}{message}" if where.endswith(".") else f"{where}: {message}" if where else message)
    return "; ".join(parts)


def error_message(error: dict) -> str:
    """What one pydantic error says was expected, without pydantic's 'Value error, ' prefix; a key
    no field takes is an 'unknown key'."""
    return "unknown key" if error["type"] == "extra_forbidden" else error["msg"].removeprefix("Value error, ")


def key_path(error: dict) -> str:
    """The dotted key path of one pydantic error ('loss.adversarial_weight'), without the frames
    pydantic adds for validators and union members."""
    return ".".join(str(p) for p in error["loc"] if not str(p).startswith(("function-", "Parameter")))

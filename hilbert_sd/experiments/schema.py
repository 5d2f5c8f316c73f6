"""Typed parameters of experiment configs and the errors they report.

Pure Python (no numpy) so that the command line can build its help without heavy imports.
Every error names the key path of the offending value in the config, e.g.
``method.epsilon[2]: must be > 0, got -1``.
"""

import math
from dataclasses import dataclass

__all__ = ["REQUIRED", "ConfigError", "Param", "format_value"]


class _Required:
    def __repr__(self):
        return "REQUIRED"


#: Marker for a parameter without a default.
REQUIRED = _Required()


class ConfigError(ValueError):
    """An experiment config is malformed.

    Parameters
    ----------
    problems : list of (str, str)
        ``(key path, message)`` pairs, e.g. ``("method.epsilon[2]", "must be > 0, got -1")``.
    source : str, optional
        The config file, prefixed to the message.

    Notes
    -----
    A subclass of ``ValueError``: the command line reports it on one line with exit status 2.
    """

    def __init__(self, problems, source=None):
        self.problems = list(problems)
        self.source = source
        super().__init__(self._message())

    def _message(self):
        body = "; ".join(f"{path}: {msg}" if path else msg for path, msg in self.problems)
        if len(self.problems) > 1:
            body = f"{len(self.problems)} problems: {body}"
        return f"{self.source}: {body}" if self.source else body

    def with_source(self, source):
        """Return a copy naming the config file ``source``."""
        return ConfigError(self.problems, source)


def format_value(value):
    """Short display of a config value for error messages (TOML-like)."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


def _type_name(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__


@dataclass(frozen=True)
class Param:
    """One parameter of a config table.

    Parameters
    ----------
    kind : {"float", "int", "str", "bool", "float_list", "str_list"}
        The TOML type. Integers are accepted for floats. A scalar parameter given as an array
        is a grid axis (one simulation per element); a list parameter (``"float_list"``,
        ``"str_list"``) is a grid axis when given as an array of arrays.
    default : object, default=REQUIRED
        Value when the key is absent. ``None`` means "not set" (the method decides).
    low, high : float, optional
        Bounds, inclusive unless ``low_inclusive`` / ``high_inclusive`` is False.
    choices : tuple of str, optional
        Allowed values of a ``"str"`` parameter.
    allow_inf : bool, default=False
        Whether ``inf`` is a valid float.
    gridable : bool, default=True
        Whether an array of values may be given as a grid axis.
    inputs : bool, default=True
        For data parameters: whether the value changes the training inputs (and so the Gram
        matrix). Parameters with ``inputs=False`` (label noise, target function) vary inside
        one eigendecomposition group.
    doc : str
        One line for the documentation.
    """

    kind: str
    default: object = REQUIRED
    low: float = None
    high: float = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    choices: tuple = None
    allow_inf: bool = False
    gridable: bool = True
    inputs: bool = True
    doc: str = ""

    @property
    def required(self):
        return self.default is REQUIRED

    def is_grid(self, value):
        """Whether ``value`` is a grid axis (an array of candidate values) for this parameter."""
        if not isinstance(value, list):
            return False
        if self.kind.endswith("_list"):
            return len(value) > 0 and all(isinstance(v, list) for v in value)
        return True

    def check(self, value, path):
        """Validate and coerce one (non-grid) value.

        Returns
        -------
        value : the coerced value (floats for ``"float"``, a list of floats for ``"float_list"``)
        problems : list of (str, str)
        """
        if value is None:
            return value, [(path, "must be given (TOML has no null)")]
        kind = self.kind
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return value, [(path, f"expected a number, got {_type_name(value)} "
                                      f"{format_value(value)}")]
            given, value = value, float(value)
            if math.isnan(value) or (math.isinf(value) and not self.allow_inf):
                return value, [(path, f"must be finite, got {format_value(value)}")]
            return value, self._range(value, path, given)
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    return value, [(path, f"expected an integer, got {_type_name(value)} "
                                          f"{format_value(value)}")]
            return value, self._range(value, path)
        if kind == "bool":
            if not isinstance(value, bool):
                return value, [(path, f"expected true or false, got {_type_name(value)} "
                                      f"{format_value(value)}")]
            return value, []
        if kind == "str":
            if not isinstance(value, str):
                return value, [(path, f"expected a string, got {_type_name(value)} "
                                      f"{format_value(value)}")]
            if self.choices is not None and value not in self.choices:
                allowed = ", ".join(f'"{c}"' for c in self.choices)
                return value, [(path, f"must be one of {allowed}; got {format_value(value)}")]
            return value, []
        if kind in ("float_list", "str_list"):
            what = "numbers" if kind == "float_list" else "strings"
            if not isinstance(value, list):
                return value, [(path, f"expected an array of {what}, got {_type_name(value)} "
                                      f"{format_value(value)}")]
            if not value:
                return value, [(path, "must not be empty")]
            out, problems = [], []
            elem = Param(kind[:-5], low=self.low, high=self.high,
                         low_inclusive=self.low_inclusive, high_inclusive=self.high_inclusive,
                         allow_inf=self.allow_inf, choices=self.choices)
            for i, v in enumerate(value):
                v, p = elem.check(v, f"{path}[{i}]")
                out.append(v)
                problems += p
            return out, problems
        raise AssertionError(f"unknown parameter kind {kind!r}")  # a bug in a schema

    def allowed(self):
        """What the parameter accepts, in words: the ``allowed:`` part of error messages and
        of the command line's help (e.g. ``a number in [0, 1]``, ``an integer >= 1``,
        ``one of "fresh", "bootstrap"``)."""
        if self.choices is not None:
            text = "one of " + ", ".join(f'"{c}"' for c in self.choices)
        else:
            text = {"float": "a number" if self.allow_inf else "a finite number",
                    "int": "an integer", "bool": "true or false", "str": "a string"
                    }[self.kind.removesuffix("_list")]
            if self.low is not None or self.high is not None:
                text += " " + self._bound_text()
        if self.kind.endswith("_list"):
            text = f"comma-separated values, each {text}"
        return text

    def check_argument(self, value, name):
        """A library function's argument: check ``value`` against this parameter.

        Parameters
        ----------
        value : object
            A Python or NumPy scalar (or a list for a list kind). None is returned as is when
            the parameter's default is None ("not set").
        name : str
            The argument's name, for the message.

        Returns
        -------
        object
            The coerced value (float for ``"float"``, int for ``"int"``).

        Raises
        ------
        ValueError
            ``NAME=VALUE is out of range; allowed: ...`` (or "is not ..." for a wrong type).
        """
        if value is None and self.default is None:
            return None
        if hasattr(value, "item") and not isinstance(value, (list, tuple, str)):
            try:
                value = value.item()  # a NumPy scalar
            except (TypeError, ValueError):
                pass
        checked, problems = self.check(value, name)
        if problems:
            what = ("must be given" if value is None else
                    "is out of range" if "must" in problems[0][1] else "has the wrong type")
            raise ValueError(f"{name}={value!r} {what}; allowed: {self.allowed()}")
        return checked

    def parse_text(self, text, *, many=False):
        """A command-line value: parse ``text`` to this parameter's type and check it.

        Parameters
        ----------
        text : str
        many : bool, default=False
            Parse comma- (or space-) separated values, each checked, into a list. A list
            parameter (``"float_list"``, ``"str_list"``) is always parsed so.

        Returns
        -------
        object
            The checked value (a list with ``many`` or a list kind).

        Raises
        ------
        ValueError
            One line naming ``text`` and :meth:`allowed`.
        """
        listed = many or self.kind.endswith("_list")
        scalar = Param(self.kind.removesuffix("_list"), low=self.low, high=self.high,
                       low_inclusive=self.low_inclusive, high_inclusive=self.high_inclusive,
                       allow_inf=self.allow_inf, choices=self.choices)
        parts = text.replace(",", " ").split() if listed else [text]
        if not parts:
            raise ValueError(f"{text!r} is empty; allowed: {self.allowed()}")
        values = []
        for part in parts:
            value = scalar._from_text(part)
            if value is None:
                noun = {"float": "a number", "int": "an integer"}.get(scalar.kind,
                                                                       "true or false")
                raise ValueError(f"{part!r} is not {noun}; allowed: {self.allowed()}")
            value, problems = scalar.check(value, "")
            if problems:
                # an integer is shown as read (argparse's "--jobs: 0 is out of range"), other
                # values as typed
                shown = str(value) if scalar.kind == "int" else repr(part)
                raise ValueError(f"{shown} is out of range; allowed: {self.allowed()}")
            values.append(value)
        return values if listed else values[0]

    def _from_text(self, text):
        """``text`` as a value of this (scalar) kind, or None when it is not one."""
        try:
            if self.kind == "float":
                return float(text)
            if self.kind == "int":
                return int(text)
        except ValueError:
            return None
        if self.kind == "bool":
            return {"true": True, "false": False}.get(text.lower())
        return text

    def _range(self, value, path, given=None):
        lo, hi = self.low, self.high
        shown = format_value(value if given is None else given)
        if lo is not None and (value < lo or (value == lo and not self.low_inclusive)):
            return [(path, f"must be {self._bound_text()}, got {shown}")]
        if hi is not None and (value > hi or (value == hi and not self.high_inclusive)):
            return [(path, f"must be {self._bound_text()}, got {shown}")]
        return []

    def _bound_text(self):
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            lb = "[" if self.low_inclusive else "("
            rb = "]" if self.high_inclusive else ")"
            return f"in {lb}{lo:g}, {hi:g}{rb}"
        if lo is not None:
            return f"{'>=' if self.low_inclusive else '>'} {lo:g}"
        return f"{'<=' if self.high_inclusive else '<'} {hi:g}"

"""Stripe's form encoding: ``items[0][price]=p``, ``metadata[k]=v``, ``expand[]=x`` into nested
dicts and lists, and typed reads of the result that fail with Stripe's parameter errors."""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable, Iterator
from typing import Any

from spectral_billing.stripe_double.errors import StripeError, invalid, missing, unknown_param

# Maps whose keys are the caller's, never list indexes: metadata[0]=x stays {"0": "x"}.
MAP_KEYS = frozenset({"metadata"})
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def split_key(key: str) -> list[str]:
    """``items[0][price]`` -> ``["items", "0", "price"]``; ``expand[]`` -> ``["expand", ""]``."""
    match = _KEY.match(key)
    if not match:
        return [key]
    return [match.group(1), *_SEGMENT.findall(match.group(2))]


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Form pairs in Stripe's bracket notation as nested dicts and lists of strings."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = split_key(key)
        node = root
        for depth, part in enumerate(parts):
            if part == "":  # "[]": the next index of this container
                part = str(len(node))
            last = depth == len(parts) - 1
            if last:
                if isinstance(node.get(part), dict):
                    raise invalid(key, f"Invalid value for {key}: a hash was expected.")
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    if child == "":  # metadata= then metadata[k]=v: the hash wins
                        child = node[part] = {}
                    else:
                        name = "".join(
                            parts[0] if i == 0 else f"[{p}]"
                            for i, p in enumerate(parts[: depth + 1])
                        )
                        raise invalid(name, f"Invalid hash: {name} was given a string and keys.")
                node = child
    return _listify(root, None)


def _listify(node: Any, key: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v, k) for k, v in node.items()}
    if key not in MAP_KEYS and converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def param_name(path: tuple[str | int, ...]) -> str:
    head, *rest = path
    return str(head) + "".join(f"[{part}]" for part in rest)


class Params:
    """Typed reads of a parsed form, each naming its parameter the way Stripe does on error."""

    def __init__(self, data: Any, path: tuple[builtins.str | int, ...] = ()) -> None:
        self.data: builtins.dict[builtins.str, Any] = data if isinstance(data, dict) else {}
        self.path = path

    def name(self, key: builtins.str | int) -> str:
        return param_name((*self.path, key))

    def __contains__(self, key: builtins.str) -> bool:
        return key in self.data

    def keys(self) -> builtins.list[builtins.str]:
        return list(self.data)

    def __iter__(self) -> Iterator[builtins.str]:
        return iter(list(self.data))

    def raw(self, key: builtins.str) -> Any:
        return self.data.get(key)

    def str(
        self,
        key: builtins.str,
        *,
        required: bool = False,
        choices: Iterable[builtins.str] | None = None,
    ) -> Any:
        value = self.data.get(key)
        if value is None or (value == "" and required):
            if required:
                raise missing(self.name(key))
            return None
        if not isinstance(value, builtins.str):
            raise invalid(self.name(key), f"Invalid string: {self.name(key)} must be a string.")
        if choices is not None and value not in set(choices):
            allowed = ", ".join(sorted(set(choices)))
            raise invalid(
                self.name(key),
                f"Invalid {self.name(key)}: must be one of {allowed}",
                code="parameter_invalid_string",
            )
        return value

    def int(
        self,
        key: builtins.str,
        *,
        required: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> Any:
        value = self.str(key, required=required)
        if value is None or value == "":
            return None
        try:
            number = int(value)
        except ValueError:
            raise invalid(
                self.name(key), f"Invalid integer: {value}", code="parameter_invalid_integer"
            ) from None
        if minimum is not None and number < minimum:
            raise invalid(
                self.name(key),
                f"This value must be greater than or equal to {minimum}.",
                code="parameter_invalid_integer",
            )
        if maximum is not None and number > maximum:
            raise invalid(
                self.name(key),
                f"This value must be less than or equal to {maximum}.",
                code="parameter_invalid_integer",
            )
        return number

    def bool(self, key: builtins.str) -> Any:
        value = self.str(key)
        if value is None or value == "":
            return None
        if value in ("true", "True", "1"):
            return True
        if value in ("false", "False", "0"):
            return False
        raise invalid(self.name(key), f"Invalid boolean: {value}")

    def dict(self, key: builtins.str) -> Params:
        value = self.data.get(key)
        if value is not None and value != "" and not isinstance(value, dict):
            raise invalid(self.name(key), f"Invalid object: {self.name(key)} must be a hash.")
        return Params(value, (*self.path, key))

    def list(self, key: builtins.str) -> builtins.list[Any]:
        value = self.data.get(key)
        if value is None or value == "":
            return []
        if isinstance(value, builtins.str):  # expand=latest_invoice: one value
            return [value]
        if isinstance(value, dict):
            raise invalid(self.name(key), f"Invalid array: {self.name(key)} must be an array.")
        return list(value)

    def strings(self, key: builtins.str) -> builtins.list[builtins.str]:
        values = self.list(key)
        for index, value in enumerate(values):
            if not isinstance(value, builtins.str):
                raise invalid(self.name(key) + f"[{index}]", "Invalid string.")
        return values

    def metadata(
        self, key: builtins.str = "metadata"
    ) -> builtins.dict[builtins.str, builtins.str] | None:
        """``None`` when absent, ``{}`` for ``metadata=`` (clear), else the string map."""
        value = self.data.get(key)
        if value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid(self.name(key), "Invalid hash")
        for item_key, item in value.items():
            if not isinstance(item, builtins.str):
                raise invalid(
                    self.name(key) + f"[{item_key}]",
                    "Metadata values must be strings.",
                )
            if len(item_key) > 40:
                raise invalid(self.name(key), "Metadata keys can be at most 40 characters.")
            if len(item) > 500:
                raise invalid(self.name(key), "Metadata values can be at most 500 characters.")
        if len(value) > 50:
            raise invalid(self.name(key), "Metadata can have at most 50 keys.")
        return dict(value)


def check_known(params: Params, known: Iterable[str]) -> None:
    """Refuse a top-level parameter Stripe does not have, as Stripe does."""
    allowed = set(known)
    for key in params:
        if key not in allowed:
            raise unknown_param(key)


def merge_metadata(current: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    """Stripe's metadata update: ``k=""`` unsets a key, ``metadata=""`` unsets all."""
    if update is None:
        return current
    if not update:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


__all__ = ["Params", "StripeError", "check_known", "merge_metadata", "parse_pairs", "split_key"]

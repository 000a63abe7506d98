"""The attribute vocabulary: CelebA's 40 names and the parser for what users type."""
from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

import numpy as np

# CelebA's 40 attributes in the official column order of list_attr_celeba.txt.
CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald",
    "Bangs", "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair",
    "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)

ON, OFF, ANY = 1, 0, -1  # values of a request vector

_TRUE = {"1", "on", "yes", "true", "y", "+1", "+"}
_FALSE = {"0", "off", "no", "false", "n", "-1", "-"}
_ANY = {"any", "?", "*", "either"}


class UnknownAttributeError(ValueError):
    """Raised for a name that is not in the vocabulary; carries close matches."""

    def __init__(self, name: str, suggestions: list[str], known: tuple[str, ...]):
        self.name, self.suggestions, self.known = name, suggestions, known
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        shown = name if len(name) <= 60 else name[:57] + "…"  # a pasted essay should not become a 10 000-character error
        super().__init__(f"Unknown attribute {shown!r}.{hint} Known attributes: {', '.join(known)}")


def _key(name: str) -> str:
    """Normalised lookup key: case-insensitive, spaces/hyphens count as underscores."""
    return re.sub(r"[\s\-]+", "_", name.strip()).lower()


@functools.lru_cache(maxsize=16)
def _table(names: tuple[str, ...]) -> dict[str, str]:
    return {_key(n): n for n in names}


def canonical_name(name: str, names: tuple[str, ...] | list[str] = CELEBA_ATTRIBUTES) -> str | None:
    """The spelling in `names` of `name` (case-insensitive, spaces/hyphens as underscores), or None. The one
    lookup table every reader (requests, CelebA headers, CSV columns) goes through."""
    return _table(tuple(names)).get(_key(name))


def resolve_name(name: str, names: tuple[str, ...] | list[str] = CELEBA_ATTRIBUTES) -> str:
    """Return the canonical spelling of `name` in `names`, or raise UnknownAttributeError."""
    names = tuple(names)
    found = canonical_name(name, names)
    if found is not None:
        return found
    table, k = _table(names), _key(name)
    close = difflib.get_close_matches(k, list(table), n=4, cutoff=0.5)
    close += [table[t] for t in table if k and (k in t) and table[t] not in close][:4]
    suggestions = list(dict.fromkeys(table.get(c, c) for c in close))[:4]
    raise UnknownAttributeError(name.strip(), suggestions, names)


def check_names(requested: list[str] | tuple[str, ...], names: tuple[str, ...] = CELEBA_ATTRIBUTES) -> list[str]:
    """Canonicalise a list of attribute names (e.g. a dataset's --attrs), rejecting unknown ones and repeats."""
    out = [resolve_name(n, names) for n in requested]
    dup = {n for n in out if out.count(n) > 1}
    if dup:
        raise ValueError(f"Attribute listed twice: {', '.join(sorted(dup))}")
    return out


@dataclass(frozen=True)
class AttributeRequest:
    """What a user asked for: per attribute ON (1), OFF (0) or ANY (-1), over `names`."""

    names: tuple[str, ...]
    values: np.ndarray  # (K,) int8 in {1, 0, -1}

    @property
    def specified(self) -> np.ndarray:
        """Boolean mask of attributes the user fixed."""
        return self.values != ANY

    def as_dict(self) -> dict[str, int]:
        return {n: int(v) for n, v in zip(self.names, self.values) if v != ANY}

    def __str__(self) -> str:
        return ", ".join(n if v == ON else f"{n}=0" for n, v in self.as_dict().items()) or "(any)"


def parse_request(text: str, names: tuple[str, ...] | list[str] = CELEBA_ATTRIBUTES) -> AttributeRequest:
    """Parse `"Smiling, Male=0, Eyeglasses"` into an AttributeRequest over `names`.

    Accepted forms per item: `Name`, `Name=1|0|on|off|yes|no|any`, `-Name`/`!Name`/`~Name`/`no Name` (off).
    """
    names = tuple(names)
    values = np.full(len(names), ANY, dtype=np.int8)
    for raw in re.split(r"[,;\n]+", text or ""):
        item = raw.strip()
        if not item:
            continue
        value = ON
        if "=" in item or ":" in item:
            name, _, val = re.split(r"([=:])", item, maxsplit=1)
            v = val.strip().lower()
            if v in _TRUE:
                value = ON
            elif v in _FALSE:
                value = OFF
            elif v in _ANY:
                value = ANY
            else:
                raise ValueError(f"Bad value {val.strip()!r} for {name.strip()!r} in {item!r}: use 1/0, on/off or any")
        elif item[0] in "-!~":
            name, value = item[1:], OFF
        elif item.lower().startswith("no ") or item.lower().startswith("not "):
            name, value = item.split(" ", 1)[1], OFF
        else:
            name = item
        canonical = resolve_name(name, names)
        values[names.index(canonical)] = value
    return AttributeRequest(names, values)


def request_from_dict(choices: dict[str, int], names: tuple[str, ...] | list[str]) -> AttributeRequest:
    """Build a request from {name: 1|0|-1}; unknown names raise UnknownAttributeError."""
    names = tuple(names)
    values = np.full(len(names), ANY, dtype=np.int8)
    for name, v in choices.items():
        if int(v) not in (ON, OFF, ANY):
            raise ValueError(f"Bad value {v!r} for {name!r}: use 1, 0 or -1 (any)")
        values[names.index(resolve_name(name, names))] = int(v)
    return AttributeRequest(names, values)

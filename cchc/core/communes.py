"""The national register of communes (post-2025), from the vietnam-provinces package."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from vietnam_provinces import Province, ProvinceCode, Ward, WardCode


def _norm(text: str) -> str:
    # The register has stray double spaces ("Phường  Thành Nhất").
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _bare(name: str) -> str:
    """'Xã Phú Thái' -> 'phú thái'; the register carries the division type in the name."""
    n = _norm(name)
    for prefix in ("xã ", "phường ", "đặc khu ", "thành phố ", "tỉnh "):
        if n.startswith(prefix):
            return n[len(prefix) :]
    return n


def _folded(text: str) -> str:
    """Case, diacritics and the division word dropped: 'Thành phố Hải Phòng' and 'hai phong' read the same."""
    bare = _bare(text).replace("đ", "d")
    return "".join(c for c in unicodedata.normalize("NFD", bare) if not unicodedata.combining(c))


def matches(query: str, name: str, code: int | None = None) -> bool:
    """A filter as a person types it: a register code (digits), or part of the name with or without
    diacritics ('Hải Phòng', 'hai phong', 'Thành phố Hải Phòng')."""
    q = query.strip()
    if q.isdigit():
        return code is not None and int(q) == code
    return bool(_folded(q)) and _folded(q) in _folded(name)


@lru_cache(maxsize=1)
def _by_name() -> dict[str, list[Ward]]:
    index: dict[str, list[Ward]] = {}
    for w in Ward.iter_all():
        index.setdefault(_bare(w.name), []).append(w)
    return index


def short_name(ward: Ward) -> str:
    """'Xã Phú Thái' -> 'Phú Thái', as plan specs write it."""
    words = ward.name.split()
    for prefix in (["Xã"], ["Phường"], ["Đặc", "khu"]):
        if words[: len(prefix)] == prefix:
            return " ".join(words[len(prefix) :])
    return " ".join(words)


def all_wards() -> list[Ward]:
    return list(Ward.iter_all())


def province_name(ward: Ward) -> str:
    return Province.from_code(ProvinceCode(ward.province_code)).name


def check_commune(code: int, name: str, province: str) -> Ward:
    """Raise ValueError with the likely fix when name/province do not match the code."""
    candidates = _by_name().get(_bare(name), [])
    hint = "; ".join(f"{w.code} in {province_name(w)}" for w in candidates) or "no commune has that name"
    try:
        ward = Ward.from_code(WardCode(code))
    except ValueError:
        raise ValueError(f"commune code {code} is not in the register (by name '{name}': {hint})") from None
    if _bare(ward.name) != _bare(name):
        raise ValueError(f"commune code {code} is {ward.name}, not '{name}' (by name: {hint})")
    if _bare(province_name(ward)) != _bare(province):
        raise ValueError(f"commune {code} ({ward.name}) is in {province_name(ward)}, not '{province}'")
    return ward

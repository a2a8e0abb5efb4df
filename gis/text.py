"""Text and links that people type: what may be stored, and what may be written into XML.

XML 1.0 allows tab, line feed, carriage return and the characters from U+0020 up, except the surrogates
(U+D800–U+DFFF) and U+FFFE/U+FFFF. Text from users is refused with a clear message when it holds anything else
(:func:`check_user_text`); text that reaches XML from anywhere (older rows, other sources) is cleaned on the way
out (:func:`xml_safe`). Links stored from users are ``http``/``https`` only (:func:`check_web_url`), so a public
page never carries a ``javascript:`` or ``data:`` link (:func:`web_url_or_none` for what was stored before).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from gis.errors import InvalidInput

# Everything XML 1.0 cannot carry: C0 controls but tab/LF/CR, surrogates, U+FFFE and U+FFFF.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Also refused in typed text, though XML could carry them: DEL and the C1 controls (never typed, often garbage).
NOT_TYPED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
MAX_URL = 1000


def check_user_text(value: str | None, name: str, limit: int) -> str | None:
    """``value`` stripped (``None`` when empty), or :class:`InvalidInput` naming the field when it is longer than
    ``limit`` characters or holds a control character, a lone surrogate or a non-character."""
    if value is None:
        return None
    text = str(value).strip()
    bad = NOT_TYPED.search(text)
    if bad:
        code = f"U+{ord(bad.group(0)):04X}"
        raise InvalidInput(f"{name} 含有不可见的控制字符或无效字符 {code}，请删除后重试 ({name} contains the control or "
                           f"invalid character {code}; remove it and retry)", detail={"field": name, "character": code})
    if len(text) > limit:
        raise InvalidInput(f"{name} 超过 {limit} 个字符 ({name} is longer than {limit} characters)",
                           detail={"field": name, "length": len(text), "limit": limit})
    return text or None


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry replaced by U+FFFD (�)."""
    return NOT_XML.sub("\ufffd", text)


def check_web_url(value: str | None, name: str = "media_url") -> str | None:
    """A link a user gave: ``http://`` or ``https://`` with a host, else :class:`InvalidInput` (``None`` stays)."""
    text = check_user_text(value, name, MAX_URL)
    if text is None:
        return None
    if web_url_or_none(text) is None:
        raise InvalidInput(f"{name} 须为 http:// 或 https:// 开头的网址 ({name} must be an http:// or https:// link)",
                           detail={"field": name})
    return text


def web_url_or_none(value: str | None) -> str | None:
    """``value`` if it is an ``http(s)`` link with a host and no whitespace or control character, else ``None``."""
    if not value or NOT_TYPED.search(value) or any(c.isspace() for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme.lower() in ("http", "https") and parts.hostname else None

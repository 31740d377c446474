"""Markup never reaches a reply: a source's raw HTML (a Markdown file may hold any) is removed
where text enters the index, and again from any sentence a reply quotes. Agents paste replies
into a CRM that may render HTML, so `<img src=x onerror=…>` must arrive there as nothing at all.

What is removed: comments, <script>/<style>/<template> elements with their content, and every
tag (`<b>`, `</p>`, `<img …/>`, `<a href=…>`). Text that only looks like a comparison — 利率<5%,
a < b — is kept: a tag starts with "<" and a letter, "/" or "!".
"""

from __future__ import annotations

import re

_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
_CODE = re.compile(r"<(script|style|template|iframe|noscript)\b[^>]*>.*?(?:</\1\s*>|$)", re.S | re.I)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:[\s/][^<>]*)?>|<![A-Za-z][^<>]*>")
# an opening tag cut off by the end of the text (or a line) is still a tag
_OPEN_TAG = re.compile(r"<[A-Za-z][A-Za-z0-9:-]*[\s/][^<>\n]*$", re.M)


def strip_markup(text: str) -> str:
    """`text` without HTML/XML markup (the words between tags are kept)."""
    for _ in range(3):  # <scr<script>ipt>: what one pass leaves can form a tag again
        if "<" not in text:
            break
        before = text
        text = _COMMENT.sub("", text)
        text = _CODE.sub("", text)
        text = _TAG.sub("", text)
        text = _OPEN_TAG.sub("", text)
        if text == before:
            break
    return text

"""Reading rendered admin pages the way a person does: the text of a list's column, of a detail page's field."""

import re
from html import unescape

PASSWORD = "a-long-test-password-1"


def text(fragment: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def column(html: str, name: str) -> list[str]:
    """Each row's text in a changelist column (list_display name)."""
    cells = re.findall(rf'<t[dh] class="field-{name}\b[^"]*"[^>]*>(.*?)</t[dh]>', html, re.S)
    return [text(cell) for cell in cells]


def shown(html: str, name: str) -> str:
    """What a read-only detail page shows for one field."""
    match = re.search(rf'\bfield-{name}\b[^>]*>.*?<div class="readonly">(.*?)</div>', html, re.S)
    assert match, f"no read-only field {name} on the page"
    return text(match.group(1))


def actions(html: str) -> list[str]:
    """The changelist's actions (empty when it offers none)."""
    menu = re.search(r'<select name="action"[^>]*>(.*?)</select>', html, re.S)
    return re.findall(r'<option value="(\w+)"', menu.group(1)) if menu else []

"""Long notes as safe HTML in parts of bounded length, nothing left out.

A treatment note or a logged call lands as a chatter message.  Plain text
becomes HTML (paragraphs and line breaks kept, markup characters escaped);
HTML is kept and sanitized by Odoo's HTML field.  A body longer than the
limit is split into parts:

1. cut between the top-level elements of the body;
2. an element longer than the limit is opened: its children (and its text,
   between words) are spread over copies of the element, so formatting
   survives the cut;
3. the pieces are packed, in order, into as few parts as fit the limit, each
   part headed by "Part k of n".

Joining the parts' text gives back the whole text of the note.
"""
import re

from lxml import etree
from lxml import html as lxml_html
from markupsafe import escape

from odoo.tools import plaintext2html

_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
_SENTINEL = "FLITSTACK-SPLIT-7c1e"


def looks_like_html(text):
    return bool(_TAG.search(text))


def as_html(text):
    """``text`` as HTML: plain text escaped, with its paragraphs and line breaks."""
    if not text or looks_like_html(text):
        return text
    return str(plaintext2html(text))


def part_marker(index, count):
    return f"<p><em>Part {index} of {count}</em></p>"


def split_html(body, limit):
    """``[body]`` when it holds at most ``limit`` characters, else its parts
    (each with its "Part k of n" marker) of at most ``limit`` characters,
    except where a single unbreakable element (an embedded image) is longer."""
    if len(body) <= limit:
        return [body]
    budget = limit - len(part_marker(99, 99))
    if budget < 200:
        raise ValueError("the message length limit must leave room for at least 200 characters of text")
    pieces = []
    fragments = lxml_html.fragments_fromstring(body)
    for fragment in fragments:
        if isinstance(fragment, str):
            pieces += _split_text(fragment, budget)
        else:
            pieces += _split_element(fragment, budget)
    groups = _pack(pieces, budget)
    return [part_marker(i, len(groups)) + "".join(group) for i, group in enumerate(groups, start=1)]


def _pack(pieces, budget):
    groups, current, size = [], [], 0
    for piece in pieces:
        if current and size + len(piece) > budget:
            groups.append(current)
            current, size = [], 0
        current.append(piece)
        size += len(piece)
    if current:
        groups.append(current)
    return groups


def _split_text(text, budget):
    """Escaped text in chunks of at most ``budget`` characters, cut between words."""
    if not text:
        return []
    escaped = str(escape(text))
    if len(escaped) <= budget:
        return [escaped]
    chunks, current = [], ""
    for word in re.split(r"(\s+)", text):
        piece = str(escape(word))
        while len(piece) > budget:  # one "word" longer than a part: cut it, between characters
            head, word = word[: budget // 6], word[budget // 6:]
            if current:
                chunks.append(current)
                current = ""
            chunks.append(str(escape(head)))
            piece = str(escape(word))
        if current and len(current) + len(piece) > budget:
            chunks.append(current)
            current = ""
        current += piece
    if current:
        chunks.append(current)
    return chunks


def _serialize(element, with_tail=False):
    return etree.tostring(element, encoding="unicode", method="html", with_tail=with_tail)


def _split_element(element, budget):
    """``element`` with its tail, serialized in pieces of at most ``budget`` characters."""
    tail = _split_text(element.tail, budget)
    whole = _serialize(element)
    if len(whole) <= budget or not isinstance(element.tag, str) or (not len(element) and not element.text):
        return [whole] + tail
    shell = etree.Element(element.tag, attrib=dict(element.attrib))
    shell.text = _SENTINEL
    opening, closing = _serialize(shell).split(_SENTINEL)
    inner = budget - len(opening) - len(closing)
    if inner < 50:
        return [whole] + tail
    units = _split_text(element.text, inner)
    for child in element:
        units += _split_element(child, inner)
    return [opening + "".join(group) + closing for group in _pack(units, inner)] + tail

import re

from lxml import html as lxml_html

from odoo.tests import BaseCase, tagged

from ..services.html_parts import as_html, part_marker, split_html

MARKER = re.compile(r"^<p><em>Part (\d+) of (\d+)</em></p>")


def text_of(body):
    return lxml_html.fromstring(f"<div>{body}</div>").text_content()


@tagged("post_install", "-at_install", "flitstack")
class TestHtmlParts(BaseCase):
    """Long notes in parts: bounded, in order, marked, and nothing left out."""

    def assert_parts(self, body, limit, count):
        parts = split_html(body, limit)
        self.assertEqual(len(parts), count)
        for k, part in enumerate(parts, start=1):
            self.assertLessEqual(len(part), limit)
            self.assertEqual(MARKER.match(part).groups(), (str(k), str(count)))
        self.assertEqual("".join(text_of(MARKER.sub("", p)) for p in parts), text_of(body))
        return parts

    def test_a_short_body_is_left_as_it_is(self):
        self.assertEqual(split_html("<p>Review in 2 weeks</p>", 1000), ["<p>Review in 2 weeks</p>"])

    def test_paragraphs_are_packed_whole(self):
        body = "".join(f"<p>{str(i).zfill(3)}{'x' * 97}</p>" for i in range(30))  # 30 paragraphs of 107 characters
        self.assertEqual(len(part_marker(99, 99)), 29)
        parts = self.assert_parts(body, 1000, 4)  # 971 characters of room: 9 paragraphs a part
        self.assertEqual([p.count("<p>") - 1 for p in parts], [9, 9, 9, 3])

    def test_a_paragraph_longer_than_a_part_is_opened_and_keeps_its_formatting(self):
        body = "<h3>Plan</h3><p>" + "<br>".join(f"Line {i} <strong>done</strong>" for i in range(200)) + "</p>tail"
        parts = self.assert_parts(body, 1500, 5)
        self.assertTrue(parts[0].startswith(part_marker(1, 5) + "<h3>Plan</h3><p>"))
        self.assertTrue(all(p.endswith("</p>") for p in parts[:-1]))
        self.assertTrue(parts[-1].endswith("</p>tail"))

    def test_a_word_longer_than_a_part_is_cut_between_characters_not_dropped(self):
        self.assert_parts("<p>" + "a" * 2500 + "</p>", 1000, 3)

    def test_plain_text_becomes_escaped_html_with_its_lines(self):
        self.assertEqual(as_html("Pain < 3/10 & improving\nReview Friday"),
                         "<p>Pain &lt; 3/10 &amp; improving<br/>Review Friday</p>")
        self.assertEqual(as_html("<p>already HTML</p>"), "<p>already HTML</p>")
        self.assertEqual(as_html(""), "")

    def test_a_limit_that_leaves_no_room_is_refused(self):
        with self.assertRaisesRegex(ValueError, "at least 200 characters"):
            split_html("<p>" + "a" * 500 + "</p>", 220)

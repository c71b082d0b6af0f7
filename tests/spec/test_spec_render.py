#!/usr/bin/env python3
"""Checks spec_render.py on a small spec and check_spec_html.py on
doctored copies of the real spec's page: each fault must be named.
Standard library only.
"""

import os
import random
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import check_spec_html  # noqa: E402
import spec_render  # noqa: E402
import specdoc  # noqa: E402

SMALL = b"""# Small: a spec to render

Status: test.

## 1. Rules

### 1.1 One rule

- [AB-1: a peer MUST send `<x>` & stop (section 2, RFC 2119).]
- [AB-2: a peer SHOULD read **all** of it, *once*.] See AB-1 and
  sections 1.1 to 2.

1. first
2. second, `a | b`

| code | reason |
|---|---|
| 400 | bad-start-line |

```parley-frame example=bad invalid
SEND
content-length: 2

a\xff
```

## 2. References

- RFC 2119, Key words.
"""


class RenderSmallTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.text = SMALL.decode("utf-8", "surrogateescape")
        cls.page = spec_render.render(cls.text)

    def test_page_passes_the_check(self):
        self.assertEqual(check_spec_html.check(self.page.encode("utf-8"),
                                               self.text), [])

    def test_requirement_anchors(self):
        self.assertEqual(self.page.count('id="AB-1"'), 1)
        self.assertIn('<a href="#AB-1">AB-1</a>', self.page)
        # the whole bracket, code span included, is the anchor's element
        self.assertIn('<span class="req" id="AB-1">[<a class="req-id" '
                      'href="#AB-1">AB-1</a>: a peer MUST send <code>&lt;x'
                      '&gt;</code> &amp; stop (<a href="#section-2">section'
                      ' 2</a>, <a href="#ref-rfc2119">RFC 2119</a>).]'
                      '</span>', self.page)

    def test_section_and_rfc_links(self):
        self.assertIn('<a href="#section-2">section 2</a>', self.page)
        self.assertIn('<a href="#section-1.1">sections 1.1</a> to '
                      '<a href="#section-2">2</a>', self.page)
        self.assertIn('<a href="#ref-rfc2119">RFC 2119</a>', self.page)
        self.assertIn('<span id="ref-rfc2119">RFC 2119</span>', self.page)
        self.assertIn('<h3 id="section-1.1">', self.page)

    def test_code_is_escaped_and_octets_shown(self):
        self.assertIn("<code>&lt;x&gt;</code> &amp; stop", self.page)
        self.assertIn(">\\xFF</span>", self.page)
        self.assertIn('<figure id="example-bad">', self.page)
        self.assertIn("<code>a | b</code>", self.page)

    def test_blocks(self):
        self.assertIn("<strong>all</strong>", self.page)
        self.assertIn("<em>once</em>", self.page)
        self.assertIn("<ol>\n<li>first</li>", self.page)
        self.assertIn("<td>bad-start-line</td>", self.page)
        self.assertIn('<nav id="contents">', self.page)


class OddInputTest(unittest.TestCase):
    """Markdown pieces in random order, with octets that are not UTF-8
    and control characters: the page is always made and well formed."""

    PIECES = [b"# ", b"## 2. ", b"### 13 ", b"|", b"|---|", b"- ", b"1. ",
              b"```", b"`", b"**", b"*", b"[AB-1: MUST ", b"]",
              b"section 2", b"RFC 1", b"\xff", b"\x00", b"<", b"&", b'"',
              b"\n", b"\n", b"  ", b"x", b"[t](#a)", b'[t]("x)',
              b"## 20. References\n- RFC 1\n"]

    def test_random_documents(self):
        rng = random.Random(11)
        for _ in range(500):
            data = b"".join(rng.choice(self.PIECES)
                            for _ in range(rng.randint(1, 60)))
            text = data.decode("utf-8", "surrogateescape")
            page = check_spec_html.Page()
            page.feed(spec_render.render(text).encode("utf-8")
                      .decode("utf-8"))
            page.close()
            self.assertEqual((page.problems, page.stack), ([], []), data)


class CheckPageTest(unittest.TestCase):
    """The real spec's page, whole and doctored."""

    @classmethod
    def setUpClass(cls):
        cls.text = specdoc.read_spec(ROOT)
        cls.page = spec_render.render(cls.text)

    def problems(self, old, new, count=1):
        self.assertIn(old, self.page)
        page = self.page.replace(old, new, count)
        return "\n".join(check_spec_html.check(page.encode("utf-8"),
                                               self.text))

    def test_real_page_passes(self):
        self.assertEqual(check_spec_html.check(self.page.encode("utf-8"),
                                               self.text), [])

    def test_missing_requirement_anchor(self):
        self.assertIn("requirement CALL-3 has 0 anchors",
                      self.problems('id="CALL-3"', 'id="CALL-3x"'))

    def test_missing_section_anchor(self):
        self.assertIn('no anchor "section-19.6"',
                      self.problems('id="section-19.6"', ""))

    def test_id_given_twice(self):
        self.assertIn('id "section-2" given twice',
                      self.problems('id="section-3"', 'id="section-2"'))

    def test_broken_internal_link(self):
        self.assertIn('link to "#nowhere", which is not on the page',
                      self.problems('href="#section-4.2"',
                                    'href="#nowhere"'))

    def test_unclosed_element(self):
        self.assertIn("closes <table> of line",
                      self.problems("</table>", ""))

    def test_octets_not_shown(self):
        page = self.page.replace('<span class="octet" title="octet not '
                                 'UTF-8">\\xC0</span>', "?")
        problems = check_spec_html.check(page.encode("utf-8"), self.text)
        self.assertTrue(any("octet boxes" in p for p in problems),
                        problems)

    def test_page_not_utf8(self):
        problems = check_spec_html.check(b"<p>\xff</p>", self.text)
        self.assertTrue(problems[0].startswith("page is not UTF-8"))


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""A small reference decoder for Parley/1 frames (spec/parley-1.md, section 2).

It reads one WebSocket message that must hold exactly one frame (section
2.5) and returns the decoded frame, or raises FrameError with the reason
from the error registry (section 13). Faults are reported in the order a
left-to-right reading meets them (section 2.8); a message longer than the
frame size limit is refused before it is read. decode_stream reads a
byte stream holding any number of frames (section 2.6) instead.

The spec lint uses it to check that every worked example of section 15
decodes to the values its JSON block states, and the test vectors of
conformance/vectors/ are checked against it. It is written for clarity,
not speed, and uses the standard library only.
"""

import collections

CR, LF, SP, COLON, DASH = 0x0D, 0x0A, 0x20, 0x3A, 0x2D

FRAME_SIZE_MAX = 65536
HEADER_COUNT_MAX = 32
HEADER_LINE_MAX = 1024
VERB_MAX = 32

# The limits a receiver applies: those of section 2.3, or lower ones it
# stated (section 4). The verb limit is not one a peer states.
Limits = collections.namedtuple("Limits",
                                "frame_size header_count header_line")
DEFAULT_LIMITS = Limits(FRAME_SIZE_MAX, HEADER_COUNT_MAX, HEADER_LINE_MAX)


class FrameError(Exception):
    """A frame the receiver rejects; `reason` is the registry reason."""

    def __init__(self, reason, offset, rule):
        super().__init__(f"{reason} at octet {offset} ({rule})")
        self.reason = reason
        self.offset = offset
        self.rule = rule


def _upalpha(c):
    return 0x41 <= c <= 0x5A


def _loalpha(c):
    return 0x61 <= c <= 0x7A


def _digit(c):
    return 0x30 <= c <= 0x39


def utf8_seq(data, i, end):
    """Length of the valid RFC 3629 sequence starting at data[i].

    Returns 0 when the octets there are not valid UTF-8, and -1 when the
    sequence is cut short by `end` (more octets could still make it valid).
    """
    c = data[i]
    if c < 0x80:
        return 1
    if 0xC2 <= c <= 0xDF:
        need, lo, hi = 1, 0x80, 0xBF
    elif c == 0xE0:
        need, lo, hi = 2, 0xA0, 0xBF
    elif 0xE1 <= c <= 0xEC or 0xEE <= c <= 0xEF:
        need, lo, hi = 2, 0x80, 0xBF
    elif c == 0xED:
        need, lo, hi = 2, 0x80, 0x9F
    elif c == 0xF0:
        need, lo, hi = 3, 0x90, 0xBF
    elif 0xF1 <= c <= 0xF3:
        need, lo, hi = 3, 0x80, 0xBF
    elif c == 0xF4:
        need, lo, hi = 3, 0x80, 0x8F
    else:
        return 0
    for k in range(1, need + 1):
        if i + k >= end:
            return -1
        b = data[i + k]
        if k == 1:
            if not lo <= b <= hi:
                return 0
        elif not 0x80 <= b <= 0xBF:
            return 0
    return need + 1


def _fail(reason, offset, rule):
    raise FrameError(reason, offset, rule)


def _non_ascii(data, i, end, rule, reason_if_valid):
    """Handles an octet >= 0x80 met at i: bad UTF-8, a cut, or `rule`."""
    n = utf8_seq(data, i, end)
    if n == 0:
        _fail("bad-utf8", i, rule)
    if n < 0:
        _fail("truncated-frame", end, rule)
    if reason_if_valid:
        _fail(reason_if_valid, i, rule)
    return n


def _start_line(data, end):
    """Returns the verb and the offset after its CRLF."""
    i = 0
    while True:
        if i >= end:
            _fail("truncated-frame", end, "start-line")
        c = data[i]
        if c == CR:
            if i == 0:
                _fail("bad-start-line", i, "verb")
            if i + 1 >= end:
                _fail("truncated-frame", end, "start-line")
            if data[i + 1] != LF:
                _fail("bad-start-line", i + 1, "start-line")
            return data[:i].decode("ascii"), i + 2
        # A 33rd verb octet breaks the limit whatever it is (section 2.8
        # checks a limit before the octet's own fault).
        if i + 1 > VERB_MAX:
            _fail("bad-start-line", i, "verb")
        if c >= 0x80:
            _non_ascii(data, i, end, "verb", "bad-start-line")
        first = i == 0
        ok = _upalpha(c) or (not first and (_digit(c) or c == DASH))
        if not ok:
            _fail("bad-start-line", i, "verb")
        i += 1


def _header_name(data, pos, end, line_start, lim):
    """Reads a header name and its colon; returns (name, offset after)."""
    i = pos
    while True:
        # A limit fault needs its 1,025th octet (section 2.8): a message
        # that ends first is cut short, wherever in the line it ends.
        if i >= end:
            _fail("truncated-frame", end, "header-name")
        if i - line_start >= lim.header_line:
            _fail("header-too-long", i, "header-line")
        c = data[i]
        if c == COLON and i > pos:
            return data[pos:i].decode("ascii"), i + 1
        ok = _loalpha(c) or (i > pos and (_digit(c) or c == DASH))
        if not ok:
            _fail("bad-header-name", i, "header-name")
        i += 1


def _header_value(data, pos, end, line_start, lim):
    """Reads SP, a header value and CRLF; returns (value, offset after)."""
    if pos >= end:
        _fail("truncated-frame", end, "header-line")
    if pos - line_start >= lim.header_line:
        _fail("header-too-long", pos, "header-line")
    if data[pos] != SP:
        _fail("bad-header-value", pos, "header-line")
    i = pos + 1
    while True:
        if i >= end:
            _fail("truncated-frame", end, "header-value")
        c = data[i]
        if c == CR:
            if i + 1 >= end:
                _fail("truncated-frame", end, "header-line")
            if data[i + 1] != LF:
                _fail("bad-header-value", i, "header-value")
            return data[pos + 1:i].decode("utf-8"), i + 2
        if i - line_start >= lim.header_line:
            _fail("header-too-long", i, "header-line")
        if c >= 0x80:
            n = _non_ascii(data, i, end, "header-value", None)
            if i + n - line_start > lim.header_line:
                _fail("header-too-long", i, "header-line")
            i += n
            continue
        if c < 0x20 or c == 0x7F:
            _fail("bad-header-value", i, "header-value")
        i += 1


def _content_length(value, offset, line_end, lim):
    """Checks a content-length value; returns it as an int."""
    ok = value == "0" or (value[:1] in "123456789" and value.isdigit()
                          and value.isascii() and value != "")
    if not ok:
        _fail("bad-length", offset, "content-length")
    n = int(value)
    if n > lim.frame_size or line_end + 2 + n > lim.frame_size:
        _fail("frame-too-large", offset, "content-length")
    return n


def _headers(data, pos, end, lim):
    """Reads header lines and the blank line.

    Returns (headers, content_length or None, offset of the body)."""
    headers, names, length = [], set(), None
    while True:
        if pos >= end:
            _fail("truncated-frame", end, "header-line")
        if data[pos] == CR:
            if pos + 1 >= end:
                _fail("truncated-frame", end, "frame")
            if data[pos + 1] != LF:
                _fail("bad-header-name", pos + 1, "header-name")
            return headers, length, pos + 2
        if len(headers) >= lim.header_count:
            _fail("too-many-headers", pos, "header-line")
        line_start = pos
        name, pos = _header_name(data, pos, end, line_start, lim)
        if name in names:
            _fail("duplicate-header", line_start, "header-name")
        value_at = pos + 1
        value, pos = _header_value(data, pos, end, line_start, lim)
        if name == "content-length":
            length = _content_length(value, value_at, pos, lim)
        headers.append([name, value])
        names.add(name)


def _body(data, pos, end, length, lim):
    """Checks the body's UTF-8; returns (body, offset after it).

    The body must end within `end`, else the frame is cut short."""
    body_end = pos + length
    if body_end > lim.frame_size:
        _fail("frame-too-large", pos, "frame")
    limit = min(body_end, end)
    i = pos
    while i < limit:
        n = utf8_seq(data, i, limit)
        if n == 0 or (n < 0 and limit == body_end):
            _fail("bad-utf8", i, "body")
        if n < 0:
            break
        i += n
    if end < body_end:
        _fail("truncated-frame", end, "body")
    return data[pos:body_end].decode("utf-8"), body_end


def _frame(data, end, lim):
    """Reads the frame at the start of data[:end].

    Returns (frame, whether it has content-length, offset after it): a
    frame without content-length ends at its blank line."""
    verb, pos = _start_line(data, end)
    headers, length, pos = _headers(data, pos, end, lim)
    body = ""
    if length is not None:
        body, pos = _body(data, pos, end, length, lim)
    return ({"verb": verb, "headers": headers, "body": body},
            length is not None, pos)


def _limits(limits):
    return DEFAULT_LIMITS if limits is None else Limits(*limits)


def decode_message(data, limits=None):
    """Decodes one WebSocket message holding exactly one frame.

    Returns {"verb": str, "headers": [[name, value], ...], "body": str}
    or raises FrameError. `limits` (a Limits) defaults to section 2.3's.
    """
    lim = _limits(limits)
    end = len(data)
    if end > lim.frame_size:
        _fail("frame-too-large", lim.frame_size, "frame")
    frame, has_length, pos = _frame(data, end, lim)
    if pos < end and not has_length:
        _fail("length-required", pos, "body")
    if pos < end:
        _fail("extra-data", pos, "frame")
    return frame


class StreamResult:
    """What a byte stream held: the frames read, in order; then either
    the error that stopped the reading (`error`, a FrameError whose offset
    counts from the first octet of its frame, which starts at
    `frame_start`) or the number of octets of an unfinished frame at the
    end (`pending`, 0 when the stream ends between frames)."""

    def __init__(self, frames, error, frame_start, pending):
        self.frames = frames
        self.error = error
        self.frame_start = frame_start
        self.pending = pending


def decode_stream(data, limits=None):
    """Decodes a byte stream holding any number of frames (section 2.6).

    Returns a StreamResult. A frame whose octets pass the frame size limit
    before it ends is frame-too-large at the first octet past the limit.
    """
    lim = _limits(limits)
    frames, start = [], 0
    while start < len(data):
        piece = data[start:start + lim.frame_size]
        try:
            frame, _, used = _frame(piece, len(piece), lim)
        except FrameError as err:
            if err.reason != "truncated-frame":
                return StreamResult(frames, err, start, 0)
            if start + len(piece) < len(data):
                err = FrameError("frame-too-large", lim.frame_size, "frame")
                return StreamResult(frames, err, start, 0)
            return StreamResult(frames, None, start, len(piece))
        frames.append(frame)
        start += used
    return StreamResult(frames, None, start, 0)


def example_wire(lines):
    """The wire octets of a `parley-frame` example block (section 15).

    `lines` are the block's lines as str, decoded with surrogateescape so
    raw octets survive. Every line up to and including the first empty
    line gets CRLF; the lines after it are the body, joined with CRLF.
    """
    out, i = [], 0
    while i < len(lines):
        out.append(lines[i] + "\r\n")
        i += 1
        if out[-1] == "\r\n":
            break
    out.append("\r\n".join(lines[i:]))
    return "".join(out).encode("utf-8", "surrogateescape")

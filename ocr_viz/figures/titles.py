"""Figure titles that fit their figure: a title and its caption wrapped into lines that the figure's
width holds (plotly never wraps a title, it cuts it off at the figure's edge), the top margin sized
to those lines, and the same title wrapped again for another width or a projector's larger type."""
from __future__ import annotations

import re
import textwrap

TITLE_SIZE = 15  # px, the title; its caption is CAPTION_SHARE of it
CAPTION_SHARE = 0.72
# The width a figure is wrapped for unless told: two-fifths of the main area of a 1280 x 720 window
# with the sidebar open (about 850 px), the narrowest column that shows a captioned figure at full size.
WIDTH = 340
NARROW = 240  # a third of that main area, less the gaps: a figure in a row of three (pages/_layout.row)
GLYPH_EM = 0.55  # a wide estimate of the mean character width of plotly's sans-serif font, in em
LINE_EM = 1.45  # measured in Chromium: 1.38-1.44 of the font size per line of a wrapped title
TOP = 6  # px above a title
CAPTION_LINE = re.compile(r'^<span style="font-size:\s*(\d+)px">(.*)</span>$')


def chars_per_line(width: float, size: float) -> int:
    return max(12, int(width / (size * GLYPH_EM)))


NBSP = "\u00a0"
KEEP_TOGETHER = re.compile(r" ?\([^()]{0,22}\)| = ")  # "(row 3, col 4)", "i = 7": never split over two lines


def wrap(text: str, chars: int) -> list[str]:
    """Lines of at most `chars` characters, broken between words only, never inside parentheses or
    around '=' (a reader, or a test, finds "i = 7 (row 3, col 4)" on one line)."""
    held = KEEP_TOGETHER.sub(lambda m: m.group(0).replace(" ", NBSP), text)  # textwrap breaks at ASCII spaces only
    lines = textwrap.wrap(held, chars, break_long_words=False, break_on_hyphens=False) or [""]
    return [line.replace(NBSP, " ") for line in lines]


def titled(title: str, caption: str = "", *, width: float = WIDTH, size: float = TITLE_SIZE, above: int = 10) -> dict:
    """A plotly title dict: `title` and, smaller, `caption`, each wrapped to the figure `width` (px), at
    the figure's top left corner, `above` px of the top margin left under it (for labels over the plot).
    Give the figure a top margin of title_room(it)."""
    small = round(size * CAPTION_SHARE)
    lines = wrap(title, chars_per_line(width, size))
    if caption:
        lines += [f'<span style="font-size:{small}px">{line}</span>' for line in wrap(caption, chars_per_line(width, small))]
    # plotly.js draws a title anchored at its top about one line too high when it has several lines
    # (measured in Chromium: 0.93 of the font size; 0.2 for one line): the pad puts it TOP px down
    shift = size * (0.95 if len(lines) > 1 else 0.2)
    return dict(text="<br>".join(lines), x=0, xref="container", xanchor="left", y=1, yref="container", yanchor="top",
                pad=dict(t=round(TOP + shift), l=2, b=above), font=dict(size=size))  # b: kept for title_room


def parts(text: str) -> tuple[str, str, int]:
    """(title, caption, caption size) of a title made by `titled` (a plain title: no caption)."""
    title, caption, small = [], [], 0
    for line in (text or "").split("<br>"):
        found = CAPTION_LINE.match(line)
        if found:
            small = int(found.group(1))
            caption.append(found.group(2))
        elif line.startswith("<sup>") and line.endswith("</sup>"):
            caption.append(line[5:-6])
        else:
            title.append(line)
    return " ".join(title), " ".join(caption), small


def plain(text: str) -> str:
    """A wrapped title as 'title<br>caption', each on one line again (for tests and file names)."""
    title, caption, _ = parts(text)
    return f"{title}<br>{caption}" if caption else title


def title_room(title: dict) -> int:
    """The top margin that holds the title: its lines, the gap under it, a little air above."""
    size = float((title.get("font") or {}).get("size") or TITLE_SIZE)
    lines = (title.get("text") or "").split("<br>")
    height = 0.0
    for line in lines:
        found = CAPTION_LINE.match(line)
        height += (int(found.group(1)) if found else size) * LINE_EM
    return round(TOP + height + float((title.get("pad") or {}).get("b") or 0))


def refit(fig, *, width: float | None = None, size: float | None = None) -> None:
    """Wrap `fig`'s title again for `width` px (by default the width it was last wrapped for) and `size`
    px type (in place), and make the top margin hold it."""
    layout = fig.layout
    text = layout.title.text
    if not text:
        return
    width = width or (layout.meta or {}).get("title_width") or WIDTH
    size = size or (layout.title.font.size if layout.title.font and layout.title.font.size else TITLE_SIZE)
    above = layout.title.pad.b if layout.title.pad and layout.title.pad.b is not None else 10
    title, caption, _ = parts(text)
    new = titled(title, caption, width=width, size=size, above=above)
    top = layout.margin.t if layout.margin and layout.margin.t is not None else 0
    fig.update_layout(title=new, margin_t=max(top, title_room(new)), meta=dict(layout.meta or {}, title_width=width))


def narrow(fig, width: float = NARROW):
    """`fig` with its title wrapped for a narrow column (a row of three), also when large type wraps it
    again; returned for use inside a call."""
    top = fig.layout.margin.t
    refit(fig, width=width)
    if fig.layout.height and top is not None:  # the plot keeps its size under a longer title
        fig.update_layout(height=fig.layout.height + max(fig.layout.margin.t - top, 0))
    return fig


def headed(fig, title: str, caption: str = "", *, above: int = 10, **margin) -> None:
    """Give `fig` its wrapped title and a top margin that holds it, plus `above` px over the plot
    (for labels drawn there); `margin`: the other sides."""
    heading = titled(title, caption, above=above)
    fig.update_layout(title=heading, margin=dict(margin, t=title_room(heading)))

"""Images laid out in a grid: one row per (label, panels), under optional column titles.

It draws prepare's contact sheet, the preview grid of `interinv generate` and the benchmark's grids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from PIL import Image, ImageDraw, ImageOps

Colour = tuple[int, int, int] | str


@dataclass(frozen=True)
class SheetLayout:
    cell: tuple[int, int] | None = None  # (width, height) each panel is padded into; None = the largest panel's size
    gap: int = 0  # pixels between panels and around the sheet
    label_height: int = 0  # height of the caption strip above each row and of the title strip on top
    background: Colour = "white"
    padding: Colour = (0, 0, 0)  # around a panel padded into its cell
    title_colour: Colour = (160, 200, 255)
    label_colour: Colour = (230, 230, 230)


def contact_sheet(rows: Sequence[tuple[str, Sequence[Image.Image]]], titles: Sequence[str] = (),
                  layout: SheetLayout = SheetLayout()) -> Image.Image:
    """Column titles on top, then one row per (caption, panels), each panel in a cell of the same size."""
    panels = [panel for _, row in rows for panel in row]
    width, height = layout.cell or (max((p.width for p in panels), default=0), max((p.height for p in panels), default=0))
    columns = max((len(row) for _, row in rows), default=0)
    gap, label = layout.gap, layout.label_height
    row_height = label + height + gap
    sheet = Image.new("RGB", (gap + columns * (width + gap), label + gap + len(rows) * row_height), layout.background)
    draw = ImageDraw.Draw(sheet)
    for column, title in enumerate(titles[:columns]):
        draw.text((gap + column * (width + gap), 3), title, fill=layout.title_colour)
    for index, (caption, row) in enumerate(rows):
        top = label + gap + index * row_height
        if caption:
            draw.text((gap, top + 3), caption, fill=layout.label_colour)
        for column, panel in enumerate(row):
            panel = panel.convert("RGB")
            if layout.cell is not None:
                panel = ImageOps.pad(panel, layout.cell, color=layout.padding)
            sheet.paste(panel, (gap + column * (width + gap), top + label))
    return sheet

"""A dependency-free horizontal bar chart as PNG (tiny bitmap font, zlib)."""

from __future__ import annotations

import struct
import zlib

# 3x5 glyphs, rows top to bottom, 3 bits each (4 = left pixel).
_FONT = {
    " ": "00000", "0": "75557", "1": "26227", "2": "71747", "3": "71317", "4": "55711",
    "5": "74717", "6": "74757", "7": "71111", "8": "75757", "9": "75717", ".": "00002",
    ",": "00024",
    "%": "51245", "x": "05252", "/": "11244", "-": "00700", ":": "02020", "=": "07070",
    "<": "12421", ">": "42124", "(": "24442", ")": "42224",
    "A": "25755", "B": "65656", "C": "34443", "D": "65556", "E": "74647", "F": "74644",
    "G": "34553", "H": "55755", "I": "72227", "J": "11157", "K": "55655", "L": "44447",
    "M": "57755", "N": "65555", "O": "25552", "P": "65644", "Q": "25573", "R": "65655",
    "S": "34216", "T": "72222", "U": "55557", "V": "55552", "W": "55775", "X": "55255",
    "Y": "55222", "Z": "71247",
}  # fmt: skip


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width, height
        self.px = bytearray(b"\xff" * (width * height * 3))

    def rect(self, x: int, y: int, w: int, h: int, rgb: tuple[int, int, int]) -> None:
        for yy in range(max(0, y), min(self.h, y + h)):
            row = yy * self.w * 3
            for xx in range(max(0, x), min(self.w, x + w)):
                self.px[row + xx * 3 : row + xx * 3 + 3] = bytes(rgb)

    def text(
        self, x: int, y: int, s: str, scale: int = 2, rgb: tuple[int, int, int] = (0, 0, 0)
    ) -> None:
        for ch in s.upper():
            glyph = _FONT.get(ch, _FONT[" "])
            for r, bits in enumerate(glyph):
                v = int(bits)
                for c in range(3):
                    if v & (4 >> c):
                        self.rect(x + c * scale, y + r * scale, scale, scale, rgb)
            x += 4 * scale

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.px[y * self.w * 3 : (y + 1) * self.w * 3]) for y in range(self.h)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            return (
                struct.pack(">I", len(data))
                + kind
                + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
            )

        head = struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", head)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def bar_chart(title: str, rows: list[tuple[str, float, str]]) -> bytes:
    """Rows of (label, fraction of goal reached, value text); a line marks the goal (1.0)."""
    width, left, bar_w, row_h = 900, 330, 480, 34
    canvas = Canvas(width, 60 + row_h * len(rows) + 20)
    canvas.text(10, 10, title, scale=3)
    scale = bar_w / 2.0  # the axis runs to twice the goal
    for i, (label, fraction, value) in enumerate(rows):
        y = 50 + i * row_h
        canvas.text(10, y + 8, label[:40])
        ok = fraction >= 1.0
        length = int(min(fraction, 2.0) * scale)
        canvas.rect(left, y + 4, length, row_h - 10, (60, 160, 80) if ok else (210, 90, 60))
        canvas.text(left + length + 6, y + 8, value[:22])
    goal_x = left + int(scale)
    canvas.rect(goal_x, 45, 2, row_h * len(rows) + 5, (0, 0, 0))
    canvas.text(goal_x - 20, 50 + row_h * len(rows) + 2, "GOAL")
    return canvas.png()

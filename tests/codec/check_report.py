#!/usr/bin/env python3
"""check-report: the SVG picture of whole-dataset metrics renders.

Runs report_sample (tests/codec/report_sample.c) for a few pictures: the
README's sample (2000 rows, 10 classes, 15 bins, confusion matrix), one
with no counted rows, one with 10000 bins, one with 51 classes (no heat
map). For each: the text is well-formed XML whose root is the SVG
namespace's <svg>, uses only the elements and attributes the generator is
meant to print (no script, no reference, no font but sans-serif, no NaN),
and rsvg-convert renders it to a PNG that is decoded here (zlib, the five
filter types) and is not blank. The sample is also made twice (same bytes)
and compared byte for byte with the committed copy, api/report-example.svg
(`make report-example-update` rewrites it).

Standard library only. rsvg-convert (Debian librsvg2-bin) must be
installed: its absence fails the stage.

Usage: check_report.py --sample BUILD/tests/codec/report_sample
                       --example api/report-example.svg --work DIR
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib

SVG_NS = "http://www.w3.org/2000/svg"
ELEMENTS = {"svg", "title", "g", "rect", "line", "text"}
ATTRIBUTES = {
    "version", "width", "height", "viewBox", "font-family", "font-size",
    "font-weight", "fill", "fill-opacity", "stroke", "stroke-width",
    "stroke-dasharray", "x", "y", "x1", "y1", "x2", "y2", "id",
    "text-anchor", "transform",
}
PLOT = (72, 82, 468, 478)  # inside the reliability plot's frame
HEAT = (652, 82, 1048, 478)  # inside the heat map's frame

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"check-report: FAILED: {what}")
    return ok


def png_decode(data):
    """(width, height, channels, rows): 8-bit RGB or RGBA, rows of bytes."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos = 8
    idat = []
    width = height = channels = None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"bad CRC in chunk {kind!r}")
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(
                ">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace != 0:
                raise ValueError(f"unsupported PNG: depth {depth}, colour "
                                 f"type {colour}, interlace {interlace}")
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if width is None:
        raise ValueError("no IHDR")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError("image data of the wrong length")
    rows = []
    prev = bytearray(stride)
    bpp = channels
    for y in range(height):
        filt = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if filt == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif filt == 2:  # Up
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif filt == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif filt == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                if pa <= pb and pa <= pc:
                    pred = a
                elif pb <= pc:
                    pred = b
                else:
                    pred = c
                line[i] = (line[i] + pred) & 0xFF
        elif filt != 0:
            raise ValueError(f"unknown filter type {filt} in row {y}")
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def png_encode(width, height, channels, rows, filters):
    """A PNG of rows (bytes), row y filtered with filters[y]: the decoder's
    own test, since a renderer may never use some filter types."""
    bpp = channels
    out = bytearray()
    prev = bytes(width * channels)
    for y, line in enumerate(rows):
        f = filters[y]
        enc = bytearray([f])
        for i, v in enumerate(line):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 0:
                pred = 0
            elif f == 1:
                pred = a
            elif f == 2:
                pred = b
            elif f == 3:
                pred = (a + b) >> 1
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            enc.append((v - pred) & 0xFF)
        out += enc
        prev = line

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    colour = 2 if channels == 3 else 6
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(bytes(out))) + chunk(b"IEND", b""))


def decoder_self_test():
    """Every filter type, RGB and RGBA, round-trips through png_decode."""
    state = 0x2545F4914F6CDD1D
    for channels in (3, 4):
        width, height = 7, 10
        rows = []
        for _ in range(height):
            line = bytearray()
            for _ in range(width * channels):
                state = (state * 6364136223846793005 + 1442695040888963407) \
                    & 0xFFFFFFFFFFFFFFFF
                line.append(state >> 56)
            rows.append(bytes(line))
        data = png_encode(width, height, channels, rows,
                          [y % 5 for y in range(height)])
        got = png_decode(data)
        check(got == (width, height, channels, rows),
              f"PNG decoder: filters 0-4, {channels} channels, do not "
              f"round-trip")


def pixels(img, box=None):
    """The (r, g, b, a) pixels of img, or of box (x0, y0, x1, y1)."""
    width, height, channels, rows = img
    x0, y0, x1, y1 = box if box else (0, 0, width, height)
    for y in range(y0, min(y1, height)):
        row = rows[y]
        for x in range(x0, min(x1, width)):
            px = row[x * channels:(x + 1) * channels]
            yield tuple(px) if channels == 4 else tuple(px) + (255,)


def not_blank(img, box, min_colours, min_share):
    """Distinct colours and the share of pixels that are not the most
    common one (the background) in box."""
    counts = {}
    for px in pixels(img, box):
        counts[px] = counts.get(px, 0) + 1
    total = sum(counts.values())
    background = max(counts.values())
    share = (total - background) / total
    return len(counts), share, len(counts) >= min_colours and share >= min_share


def svg_checks(name, text):
    """Well-formed SVG 1.1 of the expected vocabulary; returns the root."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        check(False, f"{name}: not well-formed XML: {e}")
        return None
    check(root.tag == f"{{{SVG_NS}}}svg", f"{name}: root is {root.tag}")
    check(root.get("version") == "1.1", f"{name}: version {root.get('version')}")
    bad = set()
    for el in root.iter():
        tag = el.tag.split("}")[-1]
        if not el.tag.startswith(f"{{{SVG_NS}}}") or tag not in ELEMENTS:
            bad.add(f"element {el.tag}")
        for attr, value in el.attrib.items():
            if attr not in ATTRIBUTES:
                bad.add(f"attribute {attr}")
            if attr == "font-family" and value != "sans-serif":
                bad.add(f"font-family {value}")
            if "url(" in value or "nan" in value.lower() or "inf" in value.lower():
                bad.add(f"{attr}={value}")
    check(not bad, f"{name}: unexpected {sorted(bad)[:5]}")
    lowered = text.lower()
    check("nan" not in lowered and "infinity" not in lowered
          and "<script" not in lowered and "href" not in lowered,
          f"{name}: NaN, infinity, a script or a reference in the text")
    title = root.find(f"{{{SVG_NS}}}title")
    check(title is not None and "Reliability diagram" in (title.text or ""),
          f"{name}: no document title")
    return root


def group_rects(root, gid):
    for g in root.iter(f"{{{SVG_NS}}}g"):
        if g.get("id") == gid:
            return len(g.findall(f"{{{SVG_NS}}}rect"))
    return None


def render(rsvg, name, svg_path, png_path):
    proc = subprocess.run([rsvg, "-f", "png", "-o", png_path, svg_path],
                          capture_output=True, text=True)
    if not check(proc.returncode == 0 and os.path.exists(png_path),
                 f"{name}: rsvg-convert failed ({proc.returncode}): "
                 f"{proc.stderr.strip()}"):
        return None
    try:
        with open(png_path, "rb") as f:
            img = png_decode(f.read())
    except (ValueError, zlib.error) as e:
        check(False, f"{name}: cannot decode the PNG: {e}")
        return None
    check(True, f"{name}: PNG decoded")
    return img


def sample(args, name, extra):
    proc = subprocess.run([args.sample] + extra, capture_output=True)
    if not check(proc.returncode == 0,
                 f"{name}: report_sample {' '.join(extra)} exited "
                 f"{proc.returncode}: {proc.stderr.decode(errors='replace')}"):
        return None
    return proc.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", required=True)
    ap.add_argument("--example", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)

    rsvg = shutil.which("rsvg-convert")
    if not check(rsvg is not None,
                 "rsvg-convert is not installed (Debian package "
                 "librsvg2-bin: .ci/install-deps check installs it)"):
        print(f"check-report: {passed} passed, {failed} failed")
        return 1

    decoder_self_test()

    # (name, report_sample arguments, bars expected, heat map expected)
    pictures = [
        ("sample", [], True, True),
        ("no-counted-rows", ["--ignored"], False, True),
        ("bins-10000", ["--bins", "10000", "--rows", "20000"], True, True),
        ("classes-51", ["--classes", "51", "--rows", "3000"], True, False),
    ]
    rendered = 0
    pixels_seen = 0
    for name, extra, bars, heat in pictures:
        data = sample(args, name, extra)
        if data is None:
            continue
        text = data.decode("utf-8")
        root = svg_checks(name, text)
        if root is None:
            continue
        nbars = group_rects(root, "bars")
        check((nbars or 0) > 0 if bars else nbars == 0,
              f"{name}: {nbars} bars")
        check((group_rects(root, "confusion-cells") is not None) == heat,
              f"{name}: heat map present should be {heat}")
        if not bars:
            check("no counted rows" in text, f"{name}: no 'no counted rows'")
        svg_path = os.path.join(args.work, name + ".svg")
        png_path = os.path.join(args.work, name + ".png")
        with open(svg_path, "wb") as f:
            f.write(data)
        img = render(rsvg, name, svg_path, png_path)
        if img is None:
            continue
        rendered += 1
        width, height = img[0], img[1]
        pixels_seen += width * height
        want_w = int(root.get("width"))
        check((width, height) == (want_w, int(root.get("height"))),
              f"{name}: PNG {width}x{height}")
        colours, share, ok = not_blank(img, None, 8, 0.03)
        check(ok, f"{name}: blank-looking PNG: {colours} colours, "
                  f"{share:.1%} not background")
        # Blue inside the plot (the bars are #4c78a8; 10000 thin ones blend
        # into paler blues): there exactly when bars are.
        blue = sum(1 for px in pixels(img, PLOT)
                   if px[2] - px[0] > 40 and px[2] > px[1])
        check((blue > 0) == bars, f"{name}: {blue} blue pixels in the plot")
        if heat:
            # Cells (or the grey of rows with no label) cover the matrix:
            # most of it is not the page's white.
            inside = list(pixels(img, HEAT))
            coloured = sum(1 for px in inside if px[:3] != (255, 255, 255))
            check(coloured >= len(inside) // 2,
                  f"{name}: blank heat map: {coloured} of {len(inside)} "
                  f"pixels not white")
        print(f"check-report: {name}: {len(data)} bytes, {nbars} bars, "
              f"{width}x{height} PNG, {colours} colours, {share:.1%} not "
              f"background")

    # The README's picture: the same bytes every run, and the committed copy.
    first = sample(args, "sample", [])
    again = sample(args, "sample (again)", [])
    if first is not None and again is not None:
        check(first == again, "sample: two runs differ")
        try:
            with open(args.example, "rb") as f:
                committed = f.read()
        except OSError as e:
            committed = None
            check(False, f"{args.example}: {e}")
        if committed is not None:
            same = check(committed == first,
                         f"{args.example} differs from report_sample's "
                         f"output ({len(committed)} against {len(first)} "
                         f"bytes): run `make report-example-update` if the "
                         f"picture changed on purpose")
            if same:
                print(f"check-report: {args.example} is up to date "
                      f"({len(first)} bytes)")

    print(f"check-report: {len(pictures)} pictures, {rendered} rendered, "
          f"{pixels_seen} pixels decoded")
    print(f"check-report: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""check-docs.py [--root DIR] [--list] — every figure in docs/ comes from a
committed results file, and every code reference in docs/ points at a file
that exists. Exit status 1 when anything is wrong (one line per problem,
FILE:LINE: ...), 0 otherwise, 2 on a usage error. Python 3, stdlib only.

RESULTS FILES
  Every .txt and .md file under docs/generated/ (recursively; .svg and other
  files are ignored). Each must carry, in its first 40 lines, the keys
  command, date, cpu, cores and kernel, each as a `key: value` line, the key
  case-insensitive and optionally preceded by "# " or "- " (so Go's
  `cpu: AMD EPYC`, scripts/results-header.sh's `# cpu: ...` and a report's
  `- Date: ...` all count). `machine: CPU, N CPUs, kernel` counts for cpu,
  cores and kernel together. A file missing any key is an error.

  Every numeric token of a results file is a value (1,234 and 1 234 are
  1234), with the unit that follows it (after at most one space or tab):
  `41754 ns/op` is 41754 ns, `146.7 cpu-us/email` is 146.7 us (the unit is
  the last '-'-separated part before any '/'), `1406 B/task` is 1406 B,
  `78%` is a percentage, `5206 emails/s` and `3.000 threads` are counts
  (the unit's last part is one of syscall(s), ctxsw, emails, thread(s),
  lines, operations, ops, segments, enters, io_uring_enter, switches,
  calls); a value followed by any other word (`2 CPUs`, `8 workers`)
  matches no figure. A bare number in a cell
  of a markdown table takes the unit of its column's header (`CPU us/email`,
  `peak RSS MiB`, `threads`); any other bare number has no unit.

PAGES AND FIGURES
  Pages are docs/**/*.md except docs/generated/**. A figure is a number
  followed, directly or after one space (also no-break, thin or narrow
  no-break space; a '-' before word units: `1280-byte`), by a unit:
    time  ns, µs (also μs, us), ms, s, sec, secs, second(s), min, minute(s);
          base ns
    size  B, byte(s), octets, KiB, MiB, GiB (powers of 1024), kB, KB, MB, GB
          (either powers of 1000 or of 1024); base bytes
    ratio × (attached or after a space), x (attached only: `2x`)
    pct   %
    count syscall(s), system call(s), context switch(es), ctxsw, emails/s,
          threads, lines, operations, segments — compared without
          conversion; any count of a results file can match any count unit
  What follows the unit does not matter (`ns/op`, `µs per email`).
  A range or list shares the unit written after its last number:
  `18-21 ns`, `86–97 µs`, `2552, 8800, 2676 KiB`, `19 and 8 system calls`
  are two, two, three and two figures; a list (`, `, and, or, to) stops,
  back from its last number, at a number written with other decimals
  (`at concurrency 2, 3.0 MiB` is one figure). In a markdown table, a cell that is
  a bare number is a figure when the column's header names a unit.

  A figure matches when some value of some results file, converted into the
  figure's unit, rounds to the figure as written (half up): to as many
  decimals as written (41.8 µs matches 41754 ns/op, 41.7 µs does not); an
  integer to its last significant digit but never coarser than two
  significant digits (1406 to units; 1300 to hundreds, so 1295 matches;
  800 to tens, so 803.2 matches; 6 to units). Values in the figure's family
  convert (ns <-> µs <-> ms <-> s; B <-> KiB <-> MiB); values of another
  family never match. A value with no unit matches as itself in the
  figure's unit a ratio figure (`0.61` matches `0.61×`), or a time, size or
  count figure written with at least 4 significant digits, leading and
  trailing zeros not counted (`274432 bytes`
  from strace's `mmap(NULL, 274432, ...`); never a percentage, and never a
  shorter figure (a bare `10` in a topology dump does not source `10 ms`).

  Not figures:
  - numbers in fenced code blocks whose info string names a language
    (anything but none, `text`, `output`, `plain`, `console-output`); the
    blocks without one, or `text`/`output`, quote program output and are
    checked;
  - numbers in inline code spans, HTML comments, link targets and URLs;
  - numbers glued to a word, a '.', ':', '-', '/', '§', '#' or '@' before them,
    or to a digit or `.digit` after (dates, times, versions like 6.18.44,
    x86-64, §8, 0x60), and numbers followed by no unit (glibc 2.36);
  - bounds and targets: a figure with ≤, ≥, <, > or one of "at most",
    "at least", "up to", "less than", "more than", "under", "target",
    "targets" among the 3 words before it (`target ≤ 0.3×`);
  - constants of the design, declared anywhere in a page as
    `<!-- constant: VALUE UNIT PATH -->`, e.g.
    `<!-- constant: 1280 B rt/stack.c -->`: PATH (from the repository
    root) must exist and contain VALUE as written without grouping
    (`1280`, not glued to other digits), or the comment is an error; a
    figure of that page that matches the constant (by the rule above)
    passes.

CODE REFERENCES
  - Markdown links and images with a relative target (`[x](../rt/sched.c)`,
    `![p](generated/compare/x.svg)`, `[x]: path` definitions): the target,
    relative to the page (or to the root if it starts with '/'), must exist
    inside the repository; a `#anchor` on a .md target (or a bare `#anchor`)
    must be a heading of that page by GitHub's slug rule (lowercase, spaces
    to '-', punctuation other than '-' and '_' dropped, -1, -2 for repeats)
    or an explicit id/name anchor.
  - Inline code spans that look like paths: beginning with syscalls/, numa/,
    rt/, bench/, docs/, scripts/, tests/, .ci/ or include/ (not build/ or
    out/, which are outputs), or exactly Makefile or README.md; no spaces;
    an optional :LINE or :LINE-LINE suffix. The path must exist (a program
    named by its C source, `tests/rt/test_io` for tests/rt/test_io.c,
    counts), have at least LINE lines, and a glob (`tests/*/test_*.c`) must
    match at least one file.

OUTPUT
  One line per problem, e.g.
    docs/tasks.md:91: figure "6.1 ns" is in no results file under
      docs/generated/ (nearest: 6.2 ns in docs/generated/rt.txt:4)
  --list prints every figure found and what it matched, skipped or missed.
"""

import argparse
import glob as globmod
import os
import re
import sys
from decimal import Decimal, ROUND_HALF_UP

HEADER_KEYS = ("command", "date", "cpu", "cores", "kernel")
HEADER_LINES = 40

# Units: name -> (family, [factors to the family's base]).
TIME = {"ns": 1, "µs": 1000, "μs": 1000, "us": 1000, "ms": 10**6,
        "s": 10**9, "sec": 10**9, "secs": 10**9, "second": 10**9,
        "seconds": 10**9, "min": 60 * 10**9, "minute": 60 * 10**9,
        "minutes": 60 * 10**9}
SIZE = {"B": [1], "byte": [1], "bytes": [1], "octets": [1],
        "KiB": [1024], "MiB": [1024**2], "GiB": [1024**3],
        "kB": [1000, 1024], "KB": [1000, 1024], "MB": [1000**2, 1024**2],
        "GB": [1000**3, 1024**3]}
# Counts in results files: the unit's last part (as for the units above)
# is one of these.
COUNT_STEMS = {"syscalls", "syscall", "ctxsw", "emails", "threads", "thread",
               "lines", "operations", "ops", "segments", "enters",
               "io_uring_enter", "switches", "calls"}
COUNT_WORDS = ["system calls", "system call", "syscalls", "syscall",
               "context switches", "context switch", "ctxsw", "emails/s",
               "threads", "lines", "operations", "segments"]

UNITS = {}
for _u, _f in TIME.items():
    UNITS[_u] = ("time", [Decimal(_f)])
for _u, _fs in SIZE.items():
    UNITS[_u] = ("size", [Decimal(f) for f in _fs])
UNITS["%"] = ("pct", [Decimal(1)])
UNITS["×"] = ("ratio", [Decimal(1)])
UNITS["x"] = ("ratio", [Decimal(1)])
for _u in COUNT_WORDS:
    UNITS[_u] = ("count", [Decimal(1)])

SPACE = "[ \u00a0\u2009\u202f]"
# A number: 12,345 or 12 345 (groups of three) or 12345, with decimals.
NUM = (r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d{1,3}(?:" + SPACE + r"\d{3})+(?![\d.,]\d)"
       r"|\d+)(?:\.\d+)?")
NUM_BEFORE = r"(?<![\w.:\-/§#@+])"           # not glued to what precedes
NUM_AFTER = r"(?!\d|[.,]\d)"                 # not a version, date, 0x..
_word_units = sorted((u for u in UNITS if u not in ("%", "×", "x")),
                     key=len, reverse=True)
_hyphen_units = [u for u in _word_units if UNITS[u][0] in ("time", "size")
                 and len(u) >= 2]
UNIT_RE = (r"(?:(?P<sp>" + SPACE + r"|\n)?(?P<u>%|×|"
           + "|".join(r"\s+".join(map(re.escape, u.split(" "))) for u in _word_units)
           + r")(?![\w%µμ])(?!(?<=×)" + SPACE + r"?\d)"
           + r"|(?P<sp2>-)(?P<u2>" + "|".join(map(re.escape, _hyphen_units))
           + r")(?![\w%µμ])"
           + r"|(?P<u3>x)(?![\w]))")
SEP = r"(?:\s*[-–]\s*|,\s+and\s+|,\s+|\s+(?:and|or|to)\s+)"
FIGURE_RE = re.compile(NUM_BEFORE + r"(?P<group>" + NUM + NUM_AFTER
                       + r"(?:" + SEP + NUM + NUM_AFTER + r")*)" + UNIT_RE)
NUM_IN_GROUP_RE = re.compile(NUM_BEFORE + "(" + NUM + ")" + NUM_AFTER)

RESULT_NUM_RE = re.compile(r"(?<![\w.])(" + NUM + r")" + NUM_AFTER
                           + r"(?:[ \t]?(?P<u>[A-Za-zµμ%×][^\s|,;()\[\]]*))?")
BARE_MIN_DIGITS = 4
BOUND_SYMBOLS = "≤≥<>"
BOUND_WORDS = {"under", "target", "targets"}
BOUND_PHRASES = ("at most", "at least", "up to", "less than", "more than")
CODE_INFO_PLAIN = {"", "text", "output", "plain", "console-output"}
PATH_PREFIXES = ("syscalls/", "numa/", "rt/", "bench/", "docs/", "scripts/",
                 "tests/", ".ci/", "include/")
CONSTANT_RE = re.compile(r"<!--\s*constant:\s*(.*?)\s*-->", re.S)


def to_decimal(text):
    return Decimal(re.sub(r"[,\s\u00a0\u2009\u202f]", "", text))


def unit_of_token(token):
    """The unit, family and factors of a unit token of a results file:
    the last '-'-separated part before any '/' decides (cpu-us/email is
    us, peak-rss-KiB is KiB, server-cpu-% is %)."""
    token = token.rstrip(".:'\"")
    if token in UNITS:
        return token, UNITS[token]
    if token.startswith("%"):
        return "%", UNITS["%"]
    head = token.split("/")[0]
    last = head.split("-")[-1]
    if last in UNITS and UNITS[last][0] != "count" and last != "x":
        return last, UNITS[last]
    if last.lower() in COUNT_STEMS:
        return token, ("count", [Decimal(1)])
    return token, ("other", [Decimal(1)])


def header_unit(cell):
    """The unit a markdown table header names, or None."""
    text = re.sub(r"\(.*?\)", " ", cell).strip()
    for word in COUNT_WORDS:
        if re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", text):
            return word, UNITS[word]
    for tok in text.split():
        tok = tok.strip("`*")
        head = tok.split("/")[0]
        last = head.split("-")[-1]
        if last in UNITS and last not in ("x", "s"):
            return last, UNITS[last]
        if tok == "%":
            return "%", UNITS["%"]
    # "io_uring ops/email": a count per something
    if re.search(r"\w/(?:email|s|sec|op|task|call|switch|run)\b", text):
        return text, ("count", [Decimal(1)])
    return None


def table_rows(lines):
    """Yield (line index, [(cell text, cell offset)], header cells) for the
    body rows of every markdown table in lines."""
    i = 0
    while i + 1 < len(lines):
        if (lines[i].lstrip().startswith("|")
                and re.match(r"^\s*\|?\s*:?-{3,}", lines[i + 1])):
            header = split_row(lines[i])
            j = i + 2
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                yield j, split_row(lines[j]), [c for c, _ in header]
                j += 1
            i = j
        else:
            i += 1


def split_row(line):
    cells = []
    pos = line.index("|") + 1 if "|" in line else 0
    while pos < len(line):
        end = line.find("|", pos)
        if end < 0:
            end = len(line)
        cells.append((line[pos:end], pos))
        pos = end + 1
    if cells and not cells[-1][0].strip():
        cells.pop()
    return cells


class Value:
    __slots__ = ("num", "unit", "fam", "factors", "where", "raw")

    def __init__(self, num, unit, fam, factors, where, raw=None):
        self.num, self.unit, self.fam = num, unit, fam
        self.factors, self.where = factors, where
        self.raw = raw or ("%s %s" % (num, unit)).strip()


class Checker:
    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.errors = []          # (path, line, message)
        self.listing = []
        self.values = []          # Value, from the results files
        self.headings = {}        # page path -> set of anchors

    # -- helpers -----------------------------------------------------------
    def rel(self, path):
        return os.path.relpath(path, self.root)

    def error(self, path, line, msg):
        self.errors.append((self.rel(path), line or 0, msg))

    # -- 1. results files --------------------------------------------------
    def results_files(self):
        gen = os.path.join(self.root, "docs", "generated")
        out = []
        for d, dirs, files in os.walk(gen):
            dirs.sort()
            for f in sorted(files):
                if f.endswith((".txt", ".md")):
                    out.append(os.path.join(d, f))
        return out

    def check_results(self):
        files = self.results_files()
        if not files:
            self.error(os.path.join(self.root, "docs", "generated"), 0,
                       "no results file (.txt, .md) under docs/generated/")
        for path in files:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().split("\n")
            found = set()
            for line in lines[:HEADER_LINES]:
                m = re.match(r"^\s*(?:#\s*|-\s+)?([A-Za-z]+)\s*:\s*\S", line)
                if not m:
                    continue
                key = m.group(1).lower()
                if key == "machine":
                    found.update(("cpu", "cores", "kernel"))
                elif key in HEADER_KEYS:
                    found.add(key)
            missing = [k for k in HEADER_KEYS if k not in found]
            if missing:
                self.error(path, 0, "results file lacks %s (each a "
                           "`key: value` line in its first %d lines)"
                           % (", ".join(missing), HEADER_LINES))
            self.read_values(path, lines)

    def read_values(self, path, lines):
        rel = self.rel(path)
        in_table = {}
        for j, cells, header in table_rows(lines):
            for k, (cell, off) in enumerate(cells):
                if k < len(header) and re.fullmatch(r"\s*" + NUM + r"\s*", cell):
                    hu = header_unit(header[k])
                    if hu:
                        in_table[(j, off + len(cell) - len(cell.lstrip()))] = (
                            hu, header[k].strip())
        for i, line in enumerate(lines):
            for m in RESULT_NUM_RE.finditer(line):
                try:
                    num = to_decimal(m.group(1))
                except Exception:
                    continue
                tok = m.group("u")
                raw = m.group(0).rstrip(".:'\"")
                if tok:
                    unit, (fam, factors) = unit_of_token(tok)
                elif (i, m.start()) in in_table:
                    (unit, (fam, factors)), head = in_table[(i, m.start())]
                    raw = '%s" (column "%s")' % (m.group(1), head)
                else:
                    unit, fam, factors = "", None, [Decimal(1)]
                self.values.append(Value(num, unit, fam, factors,
                                         "%s:%d" % (rel, i + 1), raw))

    # -- matching ------------------------------------------------------------
    @staticmethod
    def quantum(text):
        """The rounding step a number as written stands for."""
        digits = re.sub(r"[^\d.]", "", text)
        if "." in digits:
            return Decimal(1).scaleb(-len(digits.split(".")[1]))
        digits = digits.lstrip("0") or "0"
        sig = len(digits.rstrip("0")) or 1
        return Decimal(1).scaleb(max(0, len(digits) - max(sig, 2)))

    @staticmethod
    def significant(text):
        """Digits as written between the first and the last non-zero one:
        162.4 and 1406 have 4; 11.00, 8.0 and 1300 have 2."""
        digits = re.sub(r"[^\d]", "", text)
        return len(digits.strip("0"))

    def candidates(self, value, fam, factors, sig):
        """value (a Value) in the figure's unit: the list of readings."""
        if value.fam is None:
            return [value.num] if fam == "ratio" or (
                fam != "pct" and sig >= BARE_MIN_DIGITS) else []
        if value.fam != fam:
            return []
        if fam == "count":
            return [value.num]
        return [value.num * a / b for a in value.factors for b in factors]

    def match(self, fig_text, fam, factors, values):
        """(matched value, reading) or (None, nearest (value, reading))."""
        fig = to_decimal(fig_text)
        q = self.quantum(fig_text)
        lo, hi = fig - q / 2, fig + q / 2
        sig = self.significant(fig_text)
        nearest, best, bare = None, None, None
        for v in values:
            for r in self.candidates(v, fam, factors, sig):
                if lo <= r < hi:
                    if v.fam is not None:
                        return v, r
                    bare = bare or (v, r)
                if v.fam is not None:
                    d = abs(r - fig)
                    if best is None or d < best:
                        best, nearest = d, (v, r)
        if bare:
            return bare
        return None, nearest

    # -- 2. pages ------------------------------------------------------------
    def pages(self):
        docs = os.path.join(self.root, "docs")
        gen = os.path.join(docs, "generated") + os.sep
        out = []
        for d, dirs, files in os.walk(docs):
            dirs.sort()
            if (d + os.sep).startswith(gen):
                continue
            out += [os.path.join(d, f) for f in sorted(files)
                    if f.endswith(".md")]
        return out

    def mask_page(self, text):
        """The page's text with everything that holds no figure blanked
        (offsets and newlines kept), the inline code spans, and the text
        with only code blocks blanked (for links)."""
        lines = text.split("\n")
        prose = []          # per line: the text checked for figures
        links = []          # per line: the text checked for links/spans
        for line, kind in zip(lines, fence_kinds(lines)):
            if kind is None:
                prose.append(None)     # filled in below
                links.append(line)
                continue
            # A fence line, or a line of a block with a language (blank),
            # or of a plain block (program output: checked for figures).
            plain = kind != "fence" and kind in CODE_INFO_PLAIN
            prose.append(line if plain else " " * len(line))
            links.append(" " * len(line))
        # Outside code blocks: comments, inline code, link targets, URLs.
        link_text = "\n".join(links)
        link_text = re.sub(r"<!--.*?-->", lambda m: blank(m.group(0)),
                           link_text, flags=re.S)
        spans = []

        def span(m):
            spans.append((m.start(), m.group(2)))
            return blank(m.group(0))
        no_code = re.sub(r"(`+)(.+?)\1", span, link_text, flags=re.S)
        masked = re.sub(r"(\]\()([^)]*)(\))",
                        lambda m: m.group(1) + blank(m.group(2)) + m.group(3),
                        no_code)
        masked = re.sub(r"^(\s*\[[^\]]+\]:\s*)(\S+.*)$",
                        lambda m: m.group(1) + blank(m.group(2)), masked,
                        flags=re.M)
        masked = re.sub(r"<?\b[a-z][a-z0-9+.-]*://\S+", lambda m: blank(m.group(0)),
                        masked)
        masked = re.sub(r"</?[A-Za-z][^<>\n]*>", lambda m: blank(m.group(0)),
                        masked)
        mlines = masked.split("\n")
        for i, p in enumerate(prose):
            if p is None:
                prose[i] = mlines[i]
        return "\n".join(prose), spans, no_code

    def check_page(self, path):
        rel = self.rel(path)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        prose, spans, no_code = self.mask_page(text)
        constants = self.read_constants(path, text)

        def lineno(pos):
            return text.count("\n", 0, pos) + 1

        figures = []   # (pos, number text, unit, fam, factors, shown)
        for m in FIGURE_RE.finditer(prose):
            unit = m.group("u") or m.group("u2") or m.group("u3")
            unit = re.sub(r"\s+", " ", unit)
            fam, factors = UNITS[unit]
            sp = m.group("sp") or m.group("sp2") or ""
            sp = " " if sp == "\n" else sp
            before = prose[max(0, m.start() - 80):m.start()]
            bound = is_bound(before)
            for pos, num in group_numbers(m.group("group"), m.start("group")):
                figures.append((pos, num, unit, fam, factors,
                                '"%s%s%s"' % (num, sp, unit), bound))
        plines = prose.split("\n")
        offsets = [0]
        for ln in plines:
            offsets.append(offsets[-1] + len(ln) + 1)
        for j, cells, header in table_rows(plines):
            for k, (cell, off) in enumerate(cells):
                if k >= len(header) or not re.fullmatch(r"\s*" + NUM + r"\s*", cell):
                    continue
                hu = header_unit(header[k])
                if not hu:
                    continue
                num = cell.strip()
                pos = offsets[j] + off + cell.index(num)
                figures.append((pos, num, hu[0], hu[1][0], hu[1][1],
                                '"%s" (column "%s")' % (num, header[k].strip()),
                                False))
        for pos, num, unit, fam, factors, shown, bound in sorted(figures):
            ln = lineno(pos)
            where = "%s:%d" % (rel, ln)
            shown_q = shown
            if bound:
                self.listing.append('%s: %s skipped (a bound or target)'
                                    % (where, shown_q))
                continue
            v, r = self.match(num, fam, factors, constants)
            if v is not None:
                self.listing.append("%s: %s is a constant (%s)"
                                    % (where, shown_q, v.where))
                continue
            v, r = self.match(num, fam, factors, self.values)
            if v is not None:
                self.listing.append('%s: %s matches "%s in %s'
                                    % (where, shown_q, v.raw if v.raw.endswith(")")
                                       else v.raw + '"', v.where))
                continue
            hint = ""
            if r is not None:
                nv, nr = r
                shown_unit = nv.unit if fam == "count" else unit.lstrip("-")
                hint = " (nearest: %s%s%s in %s)" % (
                    fmt(nr), "" if shown_unit == "%" else " ", shown_unit,
                    nv.where)
            msg = ("figure %s is in no results file under docs/generated/%s"
                   % (shown_q, hint))
            self.listing.append("%s: %s UNMATCHED" % (where, shown_q))
            self.errors.append((rel, ln, msg))
        self.check_links(path, no_code, lineno)
        self.check_spans(path, spans, lineno)

    def read_constants(self, path, text):
        out = []
        rel = self.rel(path)
        for m in CONSTANT_RE.finditer(text):
            ln = text.count("\n", 0, m.start()) + 1
            body = m.group(1)
            cm = re.fullmatch(r"(" + NUM + r")\s*(.+?)\s+(\S+)", body)
            unit = cm and re.sub(r"\s+", " ", cm.group(2))
            if not cm or unit not in UNITS:
                self.errors.append((rel, ln, "constant comment %r: want "
                                    "`<!-- constant: VALUE UNIT PATH -->` "
                                    "with a known unit" % body))
                continue
            num, cpath = cm.group(1), cm.group(3)
            full = os.path.normpath(os.path.join(self.root, cpath))
            digits = re.sub(r"[,\s\u00a0\u2009\u202f]", "", num)
            if not os.path.isfile(full):
                self.errors.append((rel, ln, 'constant "%s %s": %s does not '
                                    'exist' % (num, unit, cpath)))
                continue
            with open(full, encoding="utf-8", errors="replace") as f:
                code = f.read()
            if not re.search(r"(?<![\d.])" + re.escape(digits) + r"(?![\d])",
                             code):
                self.errors.append((rel, ln, 'constant "%s %s": %s does not '
                                    'contain %s' % (num, unit, cpath, digits)))
                continue
            fam, factors = UNITS[unit]
            out.append(Value(to_decimal(num), unit, fam, factors,
                             "%s:%d" % (rel, ln)))
        return out

    # -- 3. code references ----------------------------------------------
    def anchors(self, page):
        if page in self.headings:
            return self.headings[page]
        found = set()
        try:
            with open(page, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        seen = {}
        lines = text.split("\n")
        for line, kind in zip(lines, fence_kinds(lines)):
            # Headings outside fenced blocks, with their inline code kept
            # (GitHub's slug keeps a code span's text: `clone()` -> clone).
            if kind is not None:
                continue
            m = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                slug = slugify(m.group(1))
                n = seen.get(slug, 0)
                seen[slug] = n + 1
                found.add(slug if n == 0 else "%s-%d" % (slug, n))
        for m in re.finditer(r"""<a\s[^>]*(?:name|id)\s*=\s*["']([^"']+)""",
                             text):
            found.add(m.group(1))
        self.headings[page] = found
        return found

    def check_links(self, path, text, lineno):
        targets = []
        for m in re.finditer(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?"
                             r"(?:\s+[\"'][^)]*[\"'])?\s*\)", text):
            targets.append((m.start(1), m.group(1)))
        for m in re.finditer(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)",
                             text, flags=re.M):
            targets.append((m.start(1), m.group(1)))
        for pos, target in targets:
            ln = lineno(pos)
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                continue            # a URL, mailto: ...
            target_path, _, anchor = target.partition("#")
            target_path = target_path.split("?")[0]
            if target_path == "":
                dest = path
            elif target_path.startswith("/"):
                dest = os.path.join(self.root, target_path.lstrip("/"))
            else:
                dest = os.path.join(os.path.dirname(path), target_path)
            dest = os.path.normpath(dest)
            if not (dest + os.sep).startswith(self.root + os.sep) and dest != self.root:
                self.error(path, ln, 'link "%s" points outside the '
                           'repository' % target)
                continue
            if not os.path.exists(dest):
                self.error(path, ln, 'link "%s": %s does not exist'
                           % (target, self.rel(dest)))
                continue
            if anchor and dest.endswith(".md"):
                if anchor.lower() not in {a.lower() for a in self.anchors(dest)}:
                    self.error(path, ln, 'link "%s": %s has no heading '
                               '#%s' % (target, self.rel(dest), anchor))

    def check_spans(self, path, spans, lineno):
        for pos, content in spans:
            s = content.strip()
            if not (s.startswith(PATH_PREFIXES)
                    or re.fullmatch(r"(?:Makefile|README\.md)(?::\d+(?:-\d+)?)?", s)):
                continue
            if not re.fullmatch(r"[\w./*?\[\]{}:+-]+", s):
                continue
            ln = lineno(pos)
            m = re.fullmatch(r"(.*?)(?::(\d+)(?:-(\d+))?)?", s)
            p, first, last = m.group(1), m.group(2), m.group(3)
            want = int(last or first or 0)
            full = os.path.join(self.root, p)
            if any(c in p for c in "*?["):
                if not globmod.glob(full):
                    self.error(path, ln, 'code path "%s" matches no file' % s)
                continue
            if not os.path.exists(full):
                if (not p.endswith("/")
                        and os.path.isfile(full + ".c")):
                    continue        # a program named by its C source
                self.error(path, ln, 'code path "%s" does not exist' % s)
                continue
            if want:
                if not os.path.isfile(full):
                    self.error(path, ln, 'code path "%s": %s is no file'
                               % (s, p))
                    continue
                with open(full, encoding="utf-8", errors="replace") as f:
                    n = sum(1 for _ in f)
                if n < want:
                    self.error(path, ln, 'code path "%s": %s has only %d '
                               'lines' % (s, p, n))

    def run(self):
        self.check_results()
        for page in self.pages():
            self.check_page(page)
        return self.errors


def group_numbers(group, start):
    """The numbers of a range or list that share its unit, with their
    offsets: all of a range (`18-21`), and of a list (`67, 67 and 74`) those
    written with as many decimals as the last one, back from it — so
    `concurrency 2, 3.0 MiB` is one figure, 3.0 MiB."""
    nums = list(NUM_IN_GROUP_RE.finditer(group))
    out = [nums[-1]]
    for prev in reversed(nums[:-1]):
        sep = group[prev.end():out[-1].start()]
        if not re.fullmatch(r"\s*[-–]\s*", sep) and (
                decimals(prev.group(1)) != decimals(out[-1].group(1))):
            break
        out.append(prev)
    return [(start + n.start(), n.group(1)) for n in reversed(out)]


def decimals(num):
    return len(num.split(".")[1]) if "." in num else 0


def blank(s):
    return re.sub(r"[^\n]", " ", s)


def is_bound(before):
    words = before.split()[-3:]
    if any(c in w for w in words for c in BOUND_SYMBOLS):
        return True
    plain = [w.strip("*_([{,;:").lower() for w in words]
    if any(w in BOUND_WORDS for w in plain):
        return True
    joined = " ".join(plain)
    return any(p in joined for p in BOUND_PHRASES)


def fence_kinds(lines):
    """For each line: None outside fenced code blocks; "fence" for an
    opening or closing fence line; inside a block, its info string in
    lower case ("" when it has none)."""
    kinds = []
    fence = info = None
    for line in lines:
        if fence is None:
            m = re.match(r"^\s*(`{3,}|~{3,})\s*([^\s`]*)", line)
            if m:
                fence, info = m.group(1), m.group(2).lower()
                kinds.append("fence")
            else:
                kinds.append(None)
        elif re.match(r"^\s*" + re.escape(fence[0]) + "{%d,}\\s*$"
                      % len(fence), line):
            fence = None
            kinds.append("fence")
        else:
            kinds.append(info)
    return kinds


def slugify(heading):
    s = re.sub(r"`|\*\*|__", "", heading)
    s = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", s)
    s = s.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def fmt(d):
    d = d.normalize() if d == d.to_integral_value() else d
    s = format(d, "f")
    if "." in s:
        whole, frac = s.split(".")
        # at most 6 significant digits after the point
        s = ("%s.%s" % (whole, frac[:max(3, 7 - len(whole.lstrip("0")))])).rstrip("0").rstrip(".")
    return s


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="check-docs.py [--root DIR] [--list]")
    ap.add_argument("--root", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), ".."),
        help="the repository root (default: the parent of scripts/)")
    ap.add_argument("--list", action="store_true",
                    help="print every figure and what it matched")
    args = ap.parse_args()
    if not os.path.isdir(os.path.join(args.root, "docs")):
        print("check-docs.py: no docs/ under %s" % args.root, file=sys.stderr)
        return 2
    ck = Checker(args.root)
    errors = ck.run()
    if args.list:
        for line in ck.listing:
            print(line)
    for path, line, msg in sorted(errors, key=lambda e: (e[0], e[1])):
        print("%s:%d: %s" % (path, line, msg) if line else "%s: %s" % (path, msg))
    if errors:
        print("check-docs.py: %d problem(s)" % len(errors), file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# slides.sh — the talk as one self-contained HTML slide deck, cut out of the
# course pages (docs/), so that every figure is written and checked once.
# `make slides` runs it; `scripts/slides.sh --help` tells the options.
#
# Slide blocks. Any course page (docs/README.md, docs/*.md,
# docs/examples/*.md) may hold slide blocks: the markdown between a line
# `<!-- slide -->` and a line `<!-- /slide -->`. A block starts with a
# `### Title` line, the slide's title, followed by a slide's worth of
# markdown: a few bullets, a small table, an image, a short code excerpt
# (another `###` line in the block starts another slide; `#` and `##`
# headings are not allowed in a block). Links and images are written as
# anywhere in the page, relative to it: the script rewrites them relative
# to docs/, and pandoc embeds every image in the deck. The deck is a title
# slide (the `# ` heading of docs/README.md), then, for each `## ` section
# of docs/README.md in order, a title slide with the heading's text
# followed by the section's blocks: those in the README section itself,
# then those of each page the section links to (relative .md links, in
# link order, each page once, not counting links inside the README's own
# slide blocks; pages those pages link to are not followed).
# A page linked from several sections gives its blocks to the first of
# them; blocks in docs/README.md above its first `## ` follow the title
# slide. A block that belongs elsewhere says so: `<!-- slide section=N -->`
# puts it in the Nth `## ` section of docs/README.md (counted from 1),
# after the blocks of the pages that section links to. A section with no
# block gets a slide listing the pages it links to, and a warning; a block
# that lands in no section (its page is linked from none) is left out,
# with a warning. A block left open, a close without an open, a block
# that does not start with `###`, and an image that is not there are
# errors, named by file and line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

usage() {
	cat <<'EOF'
usage: scripts/slides.sh [--docs DIR] [--out FILE] [--md FILE] [--title TEXT]
                         [--md-only] [--help]

Renders the course's slide blocks into one self-contained HTML slide deck
(pandoc's dzslides: every image, style and script inline; nothing is
fetched when the deck is shown). One group of slides per `## ` section of
DIR/README.md: the section's title slide, then its blocks. The slide-block
convention is described at the top of this script.

  --docs DIR    the course to read (default: docs/ of this repository)
  --out FILE    the deck to write (default: out/slides/threadlab-talk.html)
  --md FILE     where the assembled markdown goes (default:
                build/slides/talk.md with the default --out, else FILE.md
                next to --out's FILE); it is kept, to be read
  --title TEXT  the title slide's text (default: DIR/README.md's `# ` line)
  --md-only     assemble the markdown, do not run pandoc
  --help        this text

Warnings (a section without blocks, a block in no section) go to stderr
and do not stop the deck. Errors (a block left open, a close without an
open, a block without its `### Title` line, a missing image, a resource
pandoc could not embed) name the file and line and exit 1. Show the deck
by opening the HTML file in a browser; arrow keys move between slides.
Needs pandoc and python3: `scripts/deps.sh docs` installs them.
EOF
}

docs=$root/docs out= md= title= md_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--docs) docs=${2:?--docs needs a directory}; shift 2 ;;
	--out) out=${2:?--out needs a file}; shift 2 ;;
	--md) md=${2:?--md needs a file}; shift 2 ;;
	--title) title=${2?--title needs a text}; shift 2 ;;
	--md-only) md_only=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "slides.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
if [ -z "$out" ]; then
	out=$root/out/slides/threadlab-talk.html
	md=${md:-$root/build/slides/talk.md}
fi
md=${md:-${out%.html}.md}
[ -f "$docs/README.md" ] || { echo "slides.sh: $docs/README.md: no such file (the course index)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "slides.sh: python3 is missing: scripts/deps.sh docs installs it" >&2; exit 1; }
mkdir -p "$(dirname "$md")"

# Assemble: read the course, cut out the blocks, write one markdown file.
python3 - "$docs" "$md" "$title" <<'PY'
import os, re, sys, json

docs, md_out, title = sys.argv[1], sys.argv[2], sys.argv[3]
docs = os.path.normpath(docs)
readme = os.path.join(docs, 'README.md')
errors = []

def warn(msg):
    print('slides.sh: warning: ' + msg, file=sys.stderr)

def show(path):
    """path as messages name it: relative to the current directory when it
    is under it, else absolute."""
    rel = os.path.relpath(path)
    return os.path.abspath(path) if rel.startswith('..') else rel

def err(path, line, msg):
    errors.append('%s:%d: %s' % (show(path), line, msg))

FENCE = re.compile(r'^\s{0,3}(`{3,}|~{3,})')
OPEN = re.compile(r'^\s*<!--\s*slide(?:\s+section\s*=\s*(\S+?))?\s*-->\s*$')
OPEN_LOOSE = re.compile(r'^\s*<!--\s*slide\b')
CLOSE = re.compile(r'^\s*<!--\s*/slide\s*-->\s*$')

def fence_step(fence, line):
    """The open fence after line: a fence opens with ``` or ~~~ and closes
    with a line of at least as many of the same character."""
    m = FENCE.match(line)
    if fence is None:
        return m.group(1) if m else None
    t = line.strip()
    if t and t[0] == fence[0] and t.strip(fence[0]) == '' and len(t) >= len(fence):
        return None
    return fence

def read_lines(path):
    with open(path, encoding='utf-8') as f:
        return f.read().split('\n')

def scan(path):
    """The page's lines with, for each, whether it is inside a fenced code
    block, and its slide blocks: dicts with start line (1-based, the
    opening marker), the lines between the markers, and section=N."""
    lines = read_lines(path)
    fenced, blocks = [], []
    fence = None            # the open fence's marker, or None
    cur = None              # the open block
    for i, line in enumerate(lines, 1):
        infence = fence is not None or FENCE.match(line) is not None
        fence = fence_step(fence, line)
        fenced.append(infence)
        if infence:
            if cur is not None:
                cur['lines'].append(line)
            continue
        o, c = OPEN.match(line), CLOSE.match(line)
        if o:
            if cur is not None:
                err(path, i, 'a slide block opens inside the block opened at line %d' % cur['line'])
                continue
            sec = o.group(1)
            if sec is not None and not sec.isdigit():
                err(path, i, 'section=%s: not a section number' % sec)
                sec = None
            cur = {'line': i, 'lines': [], 'section': int(sec) if sec else None}
        elif c:
            if cur is None:
                err(path, i, '<!-- /slide --> closes no block')
                continue
            check_block(path, cur)
            blocks.append(cur)
            cur = None
        elif OPEN_LOOSE.match(line):
            err(path, i, 'not a slide marker: write <!-- slide --> or <!-- slide section=N -->')
        elif cur is not None:
            cur['lines'].append(line)
    if cur is not None:
        err(path, cur['line'], '<!-- slide --> is never closed (no <!-- /slide --> before the end of the file)')
    return lines, fenced, blocks

def check_block(path, b):
    body = [l for l in b['lines'] if l.strip()]
    if not body or not re.match(r'^### \S', body[0]):
        err(path, b['line'], 'a slide block starts with a "### Title" line')
    fence = None
    for k, l in enumerate(b['lines'], b['line'] + 1):
        was, fence = fence, fence_step(fence, l)
        if was is None and fence is None and re.match(r'^#{1,2}\s', l):
            err(path, k, 'a slide block holds only ### and deeper headings (# and ## make the deck\'s sections)')

# Links: [text](url "title"), ![alt](url), [id]: url, and src=/href= of raw HTML.
INLINE = re.compile(r'(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*(<[^>]*>|[^)\s]+)((?:\s+(?:"[^"]*"|\'[^\']*\'))?\s*)\)')
REFDEF = re.compile(r'^(\s{0,3}\[[^\]]+\]:\s*)(\S+)(.*)$')
HTMLATTR = re.compile(r'\b(src|href)=("([^"]*)"|\'([^\']*)\')')
CODESPAN = re.compile(r'(`+)(.+?)\1')

def is_relative(url):
    return not (re.match(r'^[a-zA-Z][a-zA-Z0-9+.-]*:', url) or url.startswith('/')
                or url.startswith('#') or url == '')

def resolve(page, url):
    """The path, relative to docs/, that url (relative to page) names."""
    path, frag = (url.split('#', 1) + [''])[:2]
    full = os.path.normpath(os.path.join(os.path.dirname(page), path))
    rel = os.path.relpath(full, docs)
    if path.endswith('/') and not rel.endswith('/'):
        rel += '/'
    return full, rel + ('#' + frag if frag else '')

def outside_code(line, fn):
    """Apply fn to the parts of line that are not code spans."""
    out, pos = [], 0
    for m in CODESPAN.finditer(line):
        out.append(fn(line[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(fn(line[pos:]))
    return ''.join(out)

def rewrite_block(page, b):
    """The block's lines with relative links relative to docs/; images are
    checked to exist."""
    out, fence = [], None
    for k, line in enumerate(b['lines'], b['line'] + 1):
        was, fence = fence, fence_step(fence, line)
        if was is not None or fence is not None:
            out.append(line)
            continue
        def image_exists(url):
            full, _ = resolve(page, url)
            if not os.path.isfile(full):
                err(page, k, 'image %s: no such file (%s)' % (url, show(full)))
        def fix(text):
            def inline(m):
                bang, label, url, rest = m.groups()
                u = url[1:-1] if url.startswith('<') else url
                if not is_relative(u):
                    return m.group(0)
                if bang:
                    image_exists(u)
                return '%s[%s](%s%s)' % (bang, label, resolve(page, u)[1], rest)
            text = INLINE.sub(inline, text)
            def attr(m):
                u = m.group(3) if m.group(3) is not None else m.group(4)
                if not is_relative(u):
                    return m.group(0)
                if m.group(1) == 'src':
                    image_exists(u)
                return '%s="%s"' % (m.group(1), resolve(page, u)[1])
            return HTMLATTR.sub(attr, text)
        d = REFDEF.match(line)
        if d and is_relative(d.group(2)):
            out.append(d.group(1) + resolve(page, d.group(2))[1] + d.group(3))
        else:
            out.append(outside_code(line, fix))
    return out

def md_links(page, lines, fenced, lo, hi):
    """The .md pages (absolute paths, in order, once each) that lines
    lo..hi-1 of page link to, outside code."""
    found = []
    for i in range(lo, hi):
        if fenced[i]:
            continue
        text = CODESPAN.sub('', lines[i])
        urls = [m.group(3) for m in INLINE.finditer(text) if not m.group(1)]
        d = REFDEF.match(text)
        if d:
            urls.append(d.group(2))
        for u in urls:
            u = u[1:-1] if u.startswith('<') else u
            if not is_relative(u):
                continue
            full, _ = resolve(page, u.split('#', 1)[0])
            if not full.endswith('.md') or not os.path.isfile(full):
                continue
            if os.path.relpath(full, docs).startswith('..') or full == os.path.normpath(page):
                continue
            if full not in found:
                found.append(full)
    return found

def page_title(path):
    for l in read_lines(path):
        if l.startswith('# '):
            return l[2:].strip()
    return os.path.relpath(path, docs)

# The index: its title, its ## sections, their blocks and links.
rlines, rfenced, rblocks = scan(readme)
heads = [i for i, l in enumerate(rlines) if not rfenced[i] and re.match(r'^## \S', l)]
if not heads:
    err(readme, 1, 'no "## " heading: the deck has one group of slides per "## " section')
if not title:
    title = next((l[2:].strip() for i, l in enumerate(rlines)
                  if not rfenced[i] and l.startswith('# ')), 'threadlab')
# A section's pages are what its text links to; links inside the
# README's slide blocks are the slides' content, not a reading list.
inblock = list(rfenced)
for b in rblocks:
    for k in range(b['line'] - 1, min(b['line'] + len(b['lines']) + 1, len(inblock))):
        inblock[k] = True
sections = []
for n, h in enumerate(heads):
    end = heads[n + 1] if n + 1 < len(heads) else len(rlines)
    sections.append({'n': n + 1, 'title': rlines[h][3:].strip(), 'lo': h, 'hi': end,
                     'links': md_links(readme, rlines, inblock, h, end)})

def readme_section(b):
    """The section (1-based; 0 = before the first ## heading) a README block is in."""
    n = 0
    for s in sections:
        if b['line'] - 1 >= s['lo']:
            n = s['n']
    return n

# Every course page: README, then the others in path order.
pages = [readme]
for d, dirs, files in os.walk(docs):
    dirs[:] = sorted(x for x in dirs if x not in ('generated',) and not x.startswith('.'))
    for f in sorted(files):
        p = os.path.normpath(os.path.join(d, f))
        if f.endswith('.md') and p != os.path.normpath(readme):
            pages.append(p)
page_blocks = {readme: rblocks}
for p in pages[1:]:
    page_blocks[p] = scan(p)[2]

# Which section each page's blocks go to, by default.
home = {}
for s in sections:
    for p in s['links']:
        home.setdefault(p, s['n'])

def target(page, b):
    if b['section'] is not None:
        return b['section']
    if page == readme:
        return readme_section(b)
    return home.get(page)

placed = {}                 # section number -> [(page, block)]
for p in pages:
    for b in page_blocks[p]:
        t = target(p, b)
        if t is None:
            warn('%s:%d: this block is in no section: no "## " section of %s links to its page '
                 '(say <!-- slide section=N --> to place it); left out'
                 % (show(p), b['line'], show(readme)))
            continue
        if t > len(sections) or (t == 0 and b['section'] is not None):
            err(p, b['line'], 'section=%d: %s has %d "## " sections'
                % (t, show(readme), len(sections)))
            continue
        placed.setdefault(t, []).append((p, b))

def order(n):
    """Section n's pages in deck order: README, its links, the rest."""
    links = sections[n - 1]['links'] if n else []
    rest = [p for p in pages if p != readme and p not in links]
    return [readme] + links + rest

# The note goes in the metadata: an HTML comment before the first slide
# would make an empty slide of its own.
out = ['---', '# Assembled by scripts/slides.sh from the slide blocks of %s; do not edit.'
       % show(docs),
       'title: ' + json.dumps(title, ensure_ascii=False),
       'pagetitle: ' + json.dumps(title, ensure_ascii=False), '---', '']

def emit(n):
    for p in order(n):
        for q, b in placed.get(n, []):
            if q != p:
                continue
            # Where the slide comes from, inside it (after its title).
            lines = rewrite_block(p, b)
            k = next((i for i, l in enumerate(lines) if l.strip()), 0)
            lines[k + 1:k + 1] = ['<!-- from %s:%d -->' % (show(p), b['line']), '']
            out.extend(lines)
            out.append('')

emit(0)
for s in sections:
    out.extend(['## ' + s['title'], ''])
    if placed.get(s['n']):
        emit(s['n'])
        continue
    names = ', '.join(os.path.relpath(p, docs) for p in s['links']) or 'no page'
    warn('section %d "%s" has no slide block; it gets a slide listing the pages it links to (%s)'
         % (s['n'], s['title'], names))
    out.extend(['### In the course', ''])
    if s['links']:
        for p in s['links']:
            out.append('- [%s](%s)' % (page_title(p), os.path.relpath(p, docs)))
    else:
        out.append('- (no page yet)')
    out.append('')

if errors:
    for e in errors:
        print('slides.sh: error: ' + e, file=sys.stderr)
    sys.exit(1)
with open(md_out, 'w', encoding='utf-8') as f:
    f.write('\n'.join(out))
nblocks = sum(len(v) for v in placed.values())
print('slides.sh: %s: %d sections, %d slide blocks' % (show(md_out), len(sections), nblocks), file=sys.stderr)
PY

[ "$md_only" = 1 ] && exit 0

# Render. pandoc 2.x embeds with --self-contained; 3.x with --embed-resources.
command -v pandoc >/dev/null || { echo "slides.sh: pandoc is missing: scripts/deps.sh docs installs it (apt-get install -y pandoc)" >&2; exit 1; }
major=$(pandoc --version | sed -n '1s/^pandoc[^ ]* \([0-9]*\)\..*/\1/p')
if [ "${major:-0}" -ge 3 ]; then embed=(--embed-resources --standalone); else embed=(--self-contained); fi
# The style goes into <head> after dzslides' own (-c would replace it).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
header=$tmp/header.html
{ echo '<style>'; cat "$here/slides.css"; echo '</style>'; } >"$header"
mkdir -p "$(dirname "$out")"
log=$tmp/pandoc.log
# Images are found relative to docs/, where the assembled links point.
if ! pandoc -f markdown -t dzslides --slide-level=3 "${embed[@]}" \
	--resource-path="$docs" --include-in-header="$header" \
	-o "$out" "$md" 2>"$log"; then
	cat "$log" >&2
	echo "slides.sh: pandoc failed on $md" >&2
	exit 1
fi
if [ -s "$log" ]; then cat "$log" >&2; fi
if grep -q 'Could not fetch\|Could not find' "$log"; then
	echo "slides.sh: pandoc could not embed a resource (above); $out is not self-contained" >&2
	exit 1
fi
# Self-contained: nothing is fetched at view time. Every src= (images,
# scripts, frames) and every stylesheet link must be inline (data:);
# plain <a href> links may point anywhere.
if ! python3 - "$out" <<'PY'
import re, sys
html = open(sys.argv[1], encoding='utf-8').read()
bad = []
for m in re.finditer(r'<(\w+)\b[^>]*?\b(src|href)\s*=\s*["\']([^"\']*)["\']', html, re.I):
    tag, attr, url = m.group(1).lower(), m.group(2).lower(), m.group(3)
    if tag == 'a' or url.startswith('data:') or url.startswith('#'):
        continue
    if attr == 'src' or tag == 'link':
        bad.append('<%s %s="%s">' % (tag, attr, url[:80]))
for b in bad[:10]:
    print('  ' + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
then
	echo "slides.sh: $out refers to resources outside itself (above)" >&2
	exit 1
fi
echo "slides.sh: wrote $out ($(wc -c <"$out") bytes, $(grep -c '<section' "$out") slides)" >&2

#!/usr/bin/env bash
# test_slides — scripts/slides.sh, through its options: the deck of the
# fixture course tests/slides/course (3 sections) has its sections, blocks,
# embedded images and fallback slide where they belong; a malformed block
# is an error naming file and line; the real docs/ deck has one section
# group per `## ` heading of docs/README.md.
#
# `make` installs this file as build/tests/slides/test_slides, and
# scripts/run-tests.sh reads its summary, printed the way cmocka prints
# one. Cases that need pandoc report themselves skipped without it.
set -uo pipefail

# The repository: up from this file (tests/slides/ or build/tests/slides/)
# to the directory holding scripts/slides.sh; else the current one.
root=$(cd "$(dirname "$0")" && pwd)
while [ "$root" != / ] && ! [ -x "$root/scripts/slides.sh" ]; do root=$(dirname "$root"); done
[ -x "$root/scripts/slides.sh" ] || root=$PWD
slides=$root/scripts/slides.sh
fixture=$root/tests/slides/course
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

have_pandoc=0
command -v pandoc >/dev/null && have_pandoc=1

# The fixture deck, built once; the cases read it.
deck=$tmp/course.html
if [ $have_pandoc = 1 ]; then
	"$slides" --docs "$fixture" --out "$deck" >"$tmp/course.stdout" 2>"$tmp/course.stderr"
	echo $? >"$tmp/course.rc"
fi

# The deck's slide titles in order, one a line: "## text" for a section
# title slide, "### text" for a slide, "# text" for the title slide.
titles() {
	python3 - "$1" <<'PY'
import re, sys, html
doc = open(sys.argv[1], encoding='utf-8').read()
for m in re.finditer(r'<section\b([^>]*)>\s*<(h[123])\b[^>]*>(.*?)</\2>', doc, re.S):
    attrs, tag, text = m.groups()
    text = html.unescape(re.sub(r'<[^>]+>', '', text)).strip()
    # pandoc's smart punctuation: compare with the source's plain forms.
    text = (text.replace('\u2019', "'").replace('\u2018', "'")
            .replace('\u201c', '"').replace('\u201d', '"'))
    level = {'h1': '#', 'h2': '##', 'h3': '###'}[tag]
    if tag == 'h2' and 'title-slide' not in attrs:
        level = '## (not a title slide)'
    print(level, text)
PY
}

# A case fails when it returns non-zero or when any of its checks called
# fail (a case goes on after a failed check, to report the others too).
bad=0
fail() { echo "$*"; bad=1; return 1; }

built() {
	[ "$(cat "$tmp/course.rc")" = 0 ] || { cat "$tmp/course.stderr"; fail "slides.sh failed on the fixture"; }
}

# 1. Three sections, in the index's order, each with one title slide.
case_three_sections() {
	built || return 1
	local got
	got=$(titles "$deck" | grep '^## ')
	[ "$got" = $'## 1. Alpha\n## 2. Beta\n## 3. Gamma' ] ||
		fail "section title slides: expected Alpha, Beta, Gamma; got:"$'\n'"$got"
}

# 2. Every block in its section, in deck order: the index's own blocks,
# then the linked pages' in link order; a page linked twice (a.md) gives
# its blocks to the first section; section=1 moves b.md's second block;
# a block in a code fence is none; an unlinked page's block is left out;
# a block before the index's first ## heading follows the title slide.
case_blocks_in_sections() {
	built || return 1
	local got want
	got=$(titles "$deck")
	want='# Fixture course
### Welcome
## 1. Alpha
### Alpha from page A
### Alpha from page B
## 2. Beta
### Beta from the index
### Beta from page B
### Beta from page C
## 3. Gamma
### In the course'
	[ "$got" = "$want" ] || fail "slides in order: expected"$'\n'"$want"$'\n'"got:"$'\n'"$got"
	grep -q 'e.md:5: this block is in no section' "$tmp/course.stderr" ||
		fail "no warning about e.md's block in no section"
	! grep -q 'Orphan from page E\|Not a slide' "$deck" || fail "a block that is in no section, or in a code fence, is in the deck"
}

# 3. Images embedded, links rewritten relative to the course directory.
case_images_embedded() {
	built || return 1
	local md=${deck%.html}.md n
	! grep -Eq 'src="(generated/|\.\./|https?:)' "$deck" || fail "an image is not embedded: $(grep -Eo 'src="(generated/|\.\./|https?:)[^"]*"' "$deck" | head -3)"
	n=$(grep -o 'src="data:image/svg+xml' "$deck" | wc -l)
	[ "$n" -eq 2 ] || fail "expected 2 embedded SVG images (markdown and <img>), found $n"
	grep -qF '![the plot](generated/plot.svg)' "$md" || fail "sub/c.md's image not rewritten to generated/plot.svg in $md"
	grep -qF '[the header](../src/x.h)' "$md" || fail "sub/c.md's ../../src/x.h not rewritten to ../src/x.h"
	grep -qF '[page A](a.md)' "$md" || fail "sub/c.md's ../a.md not rewritten to a.md"
	grep -qF '[not a link](../kept/as/is)' "$md" || fail "a code block's text was rewritten"
}

# 4. Nothing fetched at view time: no external script or stylesheet.
case_self_contained() {
	built || return 1
	! grep -Eiq '<script[^>]*\bsrc=' "$deck" || fail "a <script src=> is left: $(grep -Eio '<script[^>]*src=[^>]*>' "$deck" | head -3)"
	! grep -Eiq '<link[^>]*\bhref=' "$deck" || fail "a <link href=> is left: $(grep -Eio '<link[^>]*>' "$deck" | head -3)"
	grep -q '<style>' "$deck" || fail "no inline style"
	grep -q 'slides.css' "$deck" || fail "scripts/slides.css is not in the deck"
}

# 5. A section without blocks: its title slide, a slide listing its pages,
# and a warning naming it.
case_fallback() {
	built || return 1
	python3 - "$deck" <<'PY' || return 1
import re, sys
doc = open(sys.argv[1], encoding='utf-8').read()
m = re.search(r'<h2>3\. Gamma</h2>.*?</section>\s*<section[^>]*>(.*?)</section>', doc, re.S)
if not m or '<h3>In the course</h3>' not in m.group(1) or 'href="d.md"' not in m.group(1) \
        or 'Page D' not in m.group(1):
    print('no fallback slide listing d.md (Page D) after "3. Gamma"')
    sys.exit(1)
PY
	grep -q 'warning: section 3 "3. Gamma" has no slide block' "$tmp/course.stderr" ||
		fail "no warning naming section 3: $(cat "$tmp/course.stderr")"
}

# 6. A block opened and never closed: an error with file and line, no deck.
case_unclosed() {
	local out=$tmp/unclosed.html rc
	"$slides" --docs "$root/tests/slides/unclosed" --out "$out" >"$tmp/unclosed.log" 2>&1
	rc=$?
	[ $rc -eq 1 ] || { cat "$tmp/unclosed.log"; fail "exit status $rc, not 1"; }
	grep -q 'unclosed/page.md:3: .*never closed' "$tmp/unclosed.log" ||
		fail "no error naming page.md:3: $(cat "$tmp/unclosed.log")"
	[ ! -e "$out" ] || fail "a deck was written"
}

# 7. The other errors, on copies of the fixture: a close without an open,
# a block without its ### title, a missing image, section=N out of range.
case_other_errors() {
	local c=$tmp/broken rc
	rm -rf "$c"; cp -r "$fixture" "$c"
	printf '\n<!-- /slide -->\n' >>"$c/d.md"                            # d.md:5
	sed -i 's|^### Alpha from page A$|just text|' "$c/a.md"              # a.md:5
	sed -i 's|generated/plot.svg|generated/none.svg|' "$c/sub/c.md"      # c.md:9
	sed -i 's|<!-- slide section=1 -->|<!-- slide section=9 -->|' "$c/b.md"  # b.md:13
	"$slides" --docs "$c" --md-only --out "$tmp/broken.html" >"$tmp/broken.log" 2>&1
	rc=$?
	[ $rc -eq 1 ] || { cat "$tmp/broken.log"; fail "exit status $rc, not 1"; }
	local want
	for want in 'd.md:5: <!-- /slide --> closes no block' 'a.md:5: a slide block starts with a "### Title" line' \
		'sub/c.md:9: image ../generated/none.svg: no such file' 'b.md:13: section=9:'; do
		grep -qF "$want" "$tmp/broken.log" || fail "no error '$want' in: $(cat "$tmp/broken.log")" || return 1
	done
}

# 8. The real course: one section group per `## ` heading of
# docs/README.md (outside code fences), in order, and self-contained.
case_real_docs() {
	local out=$tmp/real.html got want
	"$slides" --out "$out" >"$tmp/real.log" 2>&1 || { cat "$tmp/real.log"; fail "slides.sh failed on docs/"; return 1; }
	want=$(awk '/^ {0,3}(```|~~~)/ { f = !f; next } !f && /^## / { print }' "$root/docs/README.md")
	[ -n "$want" ] || fail "docs/README.md has no ## heading" || return 1
	got=$(titles "$out" | grep '^## ')
	[ "$(echo "$got" | wc -l)" -eq "$(echo "$want" | wc -l)" ] ||
		fail "docs/README.md has $(echo "$want" | wc -l) ## headings, the deck $(echo "$got" | wc -l) section title slides:"$'\n'"$got" || return 1
	# Headings that are plain text must read the same on their slide.
	paste -d '\t' <(echo "$want") <(echo "$got") | while IFS=$'\t' read -r w g; do
		case $w in *[\`*_\[\<\&]*) continue ;; esac
		[ "$w" = "$g" ] || { echo "section title slide '$g' for heading '$w'"; exit 1; }
	done || return 1
	! grep -Eiq '<script[^>]*\bsrc=|<link[^>]*\bhref=|<img[^>]*\bsrc="[^d]' "$out" || fail "the docs/ deck is not self-contained"
}

# 9. --help tells the options.
case_help() {
	"$slides" --help >"$tmp/help" 2>&1 || fail "--help exits non-zero" || return 1
	grep -q -- '--docs DIR' "$tmp/help" && grep -q -- '--out FILE' "$tmp/help" || fail "--help lacks --docs/--out"
}

cases=(case_three_sections case_blocks_in_sections case_images_embedded case_self_contained
       case_fallback case_unclosed case_other_errors case_real_docs case_help)
needs_pandoc=" case_three_sections case_blocks_in_sections case_images_embedded case_self_contained case_fallback case_real_docs "

tl_case() {
	if [ $have_pandoc = 0 ] && [[ $needs_pandoc == *" case_$1 "* ]]; then
		echo "pandoc is not installed (scripts/deps.sh test installs it)"
		return 77
	fi
	"case_$1"
}

. "$root/tests/common/lib_cases.sh"
tl_run_cases "${cases[@]#case_}"

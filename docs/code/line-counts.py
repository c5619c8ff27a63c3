#!/usr/bin/env python3
"""line-counts.py — how much code each email sender takes, for
docs/languages.md ("ease of use"): writes docs/generated/email-lines.txt.

For each model of the email experiment, the files a reader must read to
understand how it sends many emails at once, and for each file: all its
lines, and its code lines (neither blank nor only a comment). Comments
are stripped with a small scanner per language: // and /* */ in C, Go
and PHP (and # in PHP), # and docstrings (a string statement on its own
line) in Python. String literals are skipped so that "//" inside a string
is not a comment.

The C senders share bench/email/send.c (options, the message, the
counting) and the SMTP client machine in bench/email/smtp.c, which also
holds the server's machine; both are listed apart ("shared") so the
table shows what each threading model adds on top of them. The Go, PHP
and Python peers are single programs that do everything themselves.

Usage: docs/code/line-counts.py [--stdout]
"""
import os
import re
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..'))

MODELS = [
    ('C, raw clone threads and pthreads (one file, two models)',
     ['bench/email/send_threads.c']),
    ('C, rt tasks on io_uring', ['bench/email/send_rt.c']),
    ('C, shared by the three C senders',
     ['bench/email/send.c', 'bench/email/send.h',
      'bench/email/smtp.c', 'bench/email/smtp.h']),
    ('Go, goroutines', ['bench/email/go/main.go', 'bench/email/go/smtp.go',
                        'bench/email/go/message.go']),
    ('PHP, fibers and one process per CPU', ['bench/email/php/send.php']),
    ('Python, asyncio and threads', ['bench/email/python/send.py']),
]


def code_lines_c(text, hash_comments=False):
    """Lines holding code, for C-family syntax."""
    n = 0
    in_block = False
    for line in text.split('\n'):
        i, code = 0, False
        while i < len(line):
            c = line[i]
            if in_block:
                if line.startswith('*/', i):
                    in_block = False
                    i += 2
                else:
                    i += 1
                continue
            if line.startswith('/*', i):
                in_block = True
                i += 2
            elif line.startswith('//', i) or (hash_comments and c == '#'):
                break
            elif c in '"\'`':
                code = True
                q = c
                i += 1
                while i < len(line) and line[i] != q:
                    i += 2 if line[i] == '\\' else 1
                i += 1
            elif c.isspace():
                i += 1
            else:
                code = True
                i += 1
        n += code
    return n


def code_lines_py(text):
    n = 0
    in_doc = None
    for line in text.split('\n'):
        s = line.strip()
        if in_doc:
            if in_doc in s:
                in_doc = None
            continue
        if not s or s.startswith('#'):
            continue
        m = re.match(r'^[rbuRBU]?("""|\'\'\')', s)
        if m:
            q = m.group(1)
            if s.count(q) == 1:
                in_doc = q
            continue
        n += 1
    return n


def count(path):
    text = open(os.path.join(ROOT, path), encoding='utf-8').read()
    total = text.count('\n') + (0 if text.endswith('\n') or not text else 1)
    if path.endswith('.py'):
        code = code_lines_py(text)
    else:
        code = code_lines_c(text, hash_comments=path.endswith('.php'))
    return total, code


def header():
    return subprocess.run([os.path.join(ROOT, 'scripts/results-header.sh'),
                           'docs/code/line-counts.py'],
                          check=True, capture_output=True, text=True).stdout


def main():
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1] != '--stdout'):
        sys.exit(__doc__)
    out = [header().rstrip('\n'), '',
           'model, then per file: all lines, and code-lines (neither blank nor only a comment)']
    for model, files in MODELS:
        out.append('')
        out.append(model)
        tl = tc = 0
        for f in files:
            t, c = count(f)
            tl += t
            tc += c
            out.append('  %-36s %5d lines, %5d code-lines' % (f + ':', t, c))
        if len(files) > 1:
            out.append('  %-36s %5d lines, %5d code-lines' % ('total:', tl, tc))
    text = '\n'.join(out) + '\n'
    if len(sys.argv) == 2:
        sys.stdout.write(text)
        return
    dst = os.path.join(ROOT, 'docs/generated/email-lines.txt')
    open(dst, 'w').write(text)
    sys.stdout.write(text)


if __name__ == '__main__':
    main()

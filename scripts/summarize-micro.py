#!/usr/bin/env python3
"""summarize-micro.py RESULTS [OUT] — the medians and ratios of a
`threadlab micro` results file (Go's benchmark format), as markdown.

`make bench` runs it after a full run and commits nothing itself:
scripts/publish-micro.sh copies results.txt and this summary to
docs/generated/micro/, where the course pages quote them
(scripts/check-docs.py checks every figure a page quotes against them).

The summary repeats the results file's header (command, date, cpu,
cores, kernel, benchtime, plan), then:
- every benchmark's median over its runs (ns/op, and its extra metric
  such as B/task), with the number of runs and the spread (min..max);
- ratios of medians, each a question the course asks:
  rt task against Go goroutine (same benchmark, same -N), raw clone
  thread against pthread, and across benchmarks: creating a task against
  creating a kernel thread, a channel hand-off between tasks against a
  futex wake between kernel threads, the stack memory a parked task keeps
  against a kernel thread's, rt's mutex against the threads'.
A ratio is A/B of the two medians named on its line (below 1: A is
cheaper), and B/A beside it (how many times A is cheaper than B).
"""
import re
import statistics
import sys

LINE = re.compile(r'^(Benchmark\S+?)(-\d+)?\s+(\d+)\s+(.*)$')


def parse(path):
    header, runs = [], {}
    for line in open(path):
        line = line.rstrip('\n')
        m = LINE.match(line)
        if m:
            name = m.group(1) + (m.group(2) or '')
            fields = m.group(4).split()
            metrics = {}
            for i in range(0, len(fields) - 1, 2):
                try:
                    metrics[fields[i + 1]] = float(fields[i])
                except ValueError:
                    pass
            runs.setdefault(name, []).append(metrics)
        elif re.match(r'^[a-z-]+: ', line) and not runs:
            header.append(line)
    return header, runs


def fmt_ns(v):
    """ns/op in a readable unit, keeping 4 significant digits."""
    for unit, scale in (('s', 1e9), ('ms', 1e6), ('µs', 1e3)):
        if v >= scale:
            return '%.4g %s' % (v / scale, unit)
    return '%.4g ns' % v


def fmt_metric(v, unit):
    """Another metric: whole numbers from 100 up (no exponents)."""
    return ('%.0f %s' if abs(v) >= 100 else '%.4g %s') % (v, unit)


def median(runs, name, unit='ns/op'):
    vals = [r[unit] for r in runs.get(name, []) if unit in r]
    return statistics.median(vals) if vals else None


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    header, runs = parse(sys.argv[1])
    out = open(sys.argv[2], 'w') if len(sys.argv) == 3 else sys.stdout
    p = lambda *a: print(*a, file=out)
    p('# threadlab micro — medians and ratios')
    p()
    p('Written by `scripts/summarize-micro.py` from the results file beside')
    p('it ([results.txt](results.txt), every run in Go\'s benchmark format).')
    p()
    for h in header:
        if h.split(':')[0] in ('command', 'date', 'cpu', 'cores', 'kernel',
                               'benchtime', 'plan'):
            p('- ' + h)
    p()
    p('## Medians')
    p()
    p('| benchmark | median | other metric | runs | min .. max |')
    p('|---|--:|--:|--:|--:|')
    for name, rs in runs.items():
        ns = [r['ns/op'] for r in rs if 'ns/op' in r]
        if not ns:
            continue
        extra = ', '.join(fmt_metric(median(runs, name, unit), unit)
                          for unit in rs[0] if unit != 'ns/op')
        p('| %s | %s | %s | %d | %s .. %s |' % (
            name, fmt_ns(statistics.median(ns)), extra, len(ns),
            fmt_ns(min(ns)), fmt_ns(max(ns))))
    p()
    p('## Ratios of medians')
    p()
    p('| question | A | B | A | B | A/B | B/A |')
    p('|---|---|---|--:|--:|--:|--:|')

    def ratio(question, a, b, unit='ns/op'):
        ma, mb = median(runs, a, unit), median(runs, b, unit)
        if ma is None or mb is None or mb == 0:
            return
        show = fmt_ns if unit == 'ns/op' else (lambda v: fmt_metric(v, unit))
        inv = mb / ma
        p('| %s | %s | %s | %s | %s | %.3f× | %s× |' % (
            question, a, b, show(ma), show(mb), ma / mb,
            '%.0f' % inv if inv >= 100 else '%.3g' % inv))

    names = list(runs)
    # rt task against Go goroutine: the same benchmark with model=go.
    for a in names:
        if '/model=rt' not in a:
            continue
        b = re.sub(r'/model=rt(/stack=\w+)?', '/model=go', a)
        if b in runs:
            unit = 'B/task' if 'B/task' in runs[a][0] else 'ns/op'
            ratio('rt against Go', a, b, unit)
    # raw clone thread against pthread.
    for a in names:
        if '/model=clone' in a:
            ratio('clone against pthread', a,
                  a.replace('/model=clone', '/model=pthread'),
                  'B/task' if 'B/task' in runs[a][0] else 'ns/op')
    # Across benchmarks.
    for n in ('-2',):
        for t in ('clone', 'pthread'):
            ratio('creating a task against a kernel thread',
                  'BenchmarkSpawn/model=rt/stack=segmented' + n,
                  'BenchmarkThreadSpawn/model=%s%s' % (t, n))
            ratio('creating a goroutine against a kernel thread',
                  'BenchmarkSpawn/model=go' + n,
                  'BenchmarkThreadSpawn/model=%s%s' % (t, n))
    for rt, th in (('BenchmarkChanPingPong/model=rt',
                    'BenchmarkFutexPingPong/model=%s/cpus=1'),
                   ('BenchmarkChanPingPong/model=rt-2',
                    'BenchmarkFutexPingPong/model=%s/cpus=2-2')):
        for t in ('clone', 'pthread'):
            ratio('channel hand-off between tasks against futex wake '
                  'between threads (round trips)', rt, th % t)
    # Memory kept by a task or goroutine against a kernel thread, in and
    # after a 64 KiB recursion (GrowShrink).
    for phase in ('deep', 'after'):
        for m in ('rt/stack=segmented', 'rt/stack=mapped', 'go'):
            for t in ('clone', 'pthread'):
                ratio('stack memory of a parked task against a kernel '
                      'thread (%s)' % phase,
                      'BenchmarkGrowShrink/model=%s/phase=%s/tasks=1000-2'
                      % (m, phase),
                      'BenchmarkGrowShrink/model=%s/phase=%s/tasks=1000-2'
                      % (t, phase), 'B/task')
    for tasks in ('2', '16', '100'):
        for t in ('clone', 'pthread'):
            ratio('rt mutex against a kernel-thread mutex',
                  'BenchmarkMutex/model=rt/tasks=%s-2' % tasks,
                  'BenchmarkMutex/model=%s/tasks=%s-2' % (t, tasks))


main()

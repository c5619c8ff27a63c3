#!/usr/bin/python3
"""The Python peers of `threadlab send`: deliver N emails to an SMTP server
over C concurrent sessions, and print the result as `threadlab send`
(bench/email/send.c) and the Go and PHP peers do.

    /usr/bin/python3 bench/email/python/send.py --model python-asyncio \\
        --emails 5000 --concurrency 200 [--reuse] [--server HOST:PORT] [--size BYTES]

Models (--model; the short names asyncio and threads work too):

  python-asyncio  one OS thread: an asyncio event loop (epoll) runs one
                  coroutine per session over asyncio streams.
  python-threads  one OS thread per session (min(C, N) threads, all
                  started before any session begins), blocking sockets. A blocking session
                  holds its thread for its whole life, so a pool of
                  CPU-count threads would quietly lower the concurrency to
                  the CPU count; like the C clone and pthread models, this
                  model cannot limit its threads to the CPUs. The GIL lets
                  one thread run Python code at a time; system calls run
                  in parallel.

Output: settings as `key: value` lines, then one line in Go's benchmark
format; ns/op is wall time per email, emails/s its inverse, cpu-us/email
this process's user+sys CPU time (getrusage) per email, both over the
sending only. The -N suffix is the number of CPUs the model's threads may
run on (left off when 1, as Go does): 1 for asyncio, the CPU count for
threads. `threads` is the number of OS threads the process used, main
thread included: for asyncio counted in /proc/self/task at the end of the
run (1: no executor thread is ever started, the server being a numeric
address), for threads the session threads plus the main thread.

Exit status: 0 when every message got its 250; 1 when any did not (a
`--- FAIL:` line says how many and the first error); 2 for bad flags.

The message is the same bytes as in the Go and PHP peers: see
build_message. Everything runs with the standard library only, on
Debian's /usr/bin/python3.
"""

import argparse
import asyncio
import errno
import ipaddress
import os
import resource
import socket
import struct
import sys
import threading
import time

ENVELOPE_FROM = "sender@threadlab.test"
ENVELOPE_TO = "sink@threadlab.test"
MESSAGE_HEAD = ("From: <" + ENVELOPE_FROM + ">\r\n"
                "To: <" + ENVELOPE_TO + ">\r\n"
                "Subject: threadlab email benchmark\r\n"
                "\r\n").encode()
MIN_SIZE = 2
MAX_SIZE = 64 << 20
# The ranges `threadlab send` accepts (bench/email/send.c).
MAX_EMAILS = 1000000000
MAX_CONCURRENCY = 65536
# How long one message (or one connection set-up) may take before the
# server counts as stalled and the message as not accepted.
MESSAGE_TIMEOUT = 30.0

CMD_EHLO = b"EHLO client.threadlab.test\r\n"
CMD_MAIL = ("MAIL FROM:<" + ENVELOPE_FROM + ">\r\n").encode()
CMD_RCPT = ("RCPT TO:<" + ENVELOPE_TO + ">\r\n").encode()
CMD_DATA = b"DATA\r\n"
CMD_QUIT = b"QUIT\r\n"

MODELS = {"asyncio": "python-asyncio", "python-asyncio": "python-asyncio",
          "threads": "python-threads", "python-threads": "python-threads"}


def dots(k):
    return {0: 1, 3: 1, 6: 2}.get(k % 8, 0)


def build_message(size):
    """The message of exactly `size` bytes (>= 2), before dot-stuffing:
    the headers (left out when the size cannot hold them and a CRLF), then
    body line k of 76 characters (line 0: 1) and CRLF, the last cut short
    to make the size exact, never leaving a single byte (the line before
    gives one up). Character i of line k is '.' when i < dots(k), else
    'a' + (k+i) % 26: line 0 is a lone ".", and other lines start with "."
    or "..", so dot-stuffing matters."""
    out = bytearray(MESSAGE_HEAD if size >= len(MESSAGE_HEAD) + 2 else b"")
    rem = size - len(out)
    k = 0
    while rem > 0:
        n = min(3 if k == 0 else 78, rem)
        if rem - n == 1:
            n = n - 1 if n > 2 else n + 1
        d = dots(k)
        out += bytes(46 if i < d else 97 + (k + i) % 26 for i in range(n - 2))
        out += b"\r\n"
        rem -= n
        k += 1
    return bytes(out)


def dot_stuff(msg):
    """What goes on the wire after 354: a '.' added before every line
    that starts with '.' (RFC 5321 4.5.2), then ".\r\n"."""
    lines = msg.split(b"\r\n")[:-1]     # msg ends with CRLF
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                    for l in lines) + b".\r\n"


class SMTPError(Exception):
    pass


def describe(e):
    """An error as the other peers word it: "Connection refused", not
    "[Errno 111] Connect call failed ('127.0.0.1', 1)"."""
    if isinstance(e, TimeoutError) or (
            isinstance(e, OSError) and e.errno == errno.EAGAIN):
        return "timed out"      # asyncio.timeout, or SO_RCVTIMEO/SO_SNDTIMEO
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno)
    return str(e) or type(e).__name__


def check_reply(line, what, want):
    """One reply line: True when it is the last of the reply, False when
    more follow ("250-"); SMTPError when it is malformed or not `want`."""
    if not line.endswith(b"\n"):
        raise SMTPError("%s: connection closed" % what if not line
                        else "%s: reply line cut short or too long" % what)
    if len(line) < 5 or not line[:3].isdigit() or line[3:4] not in b" -\r":
        raise SMTPError("%s: malformed reply %r" % (what, line.rstrip(b"\r\n")))
    if int(line[:3]) != want:
        raise SMTPError("%s: %s" % (what, line.rstrip(b"\r\n").decode("latin-1")))
    return line[3:4] != b"-"


def parse_server(value):
    """HOST:PORT as threadlab send takes it: a numeric IPv4 address,
    [IPv6] or localhost (127.0.0.1), and a port from 1 to 65535 — so no
    model spends time on name lookups, and asyncio never needs its
    executor thread for getaddrinfo."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        host = ""                       # IPv6 needs its brackets
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        host = ""
    if (not sep or not host or not port.isdigit() or len(port) > 5
            or not 1 <= int(port) <= 65535):
        raise argparse.ArgumentTypeError(
            "want HOST:PORT with a numeric IPv4 address, [IPv6] or "
            "localhost, and a port from 1 to 65535, got %r" % value)
    return host, int(port)


def number(lo, hi):
    def parse(value):
        if not value.isdigit() or len(value) > 10 or not lo <= int(value) <= hi:
            raise argparse.ArgumentTypeError(
                "want a whole number from %d to %d, got %r" % (lo, hi, value))
        return int(value)
    return parse


def parse_args():
    p = argparse.ArgumentParser(
        prog="send.py", allow_abbrev=False,
        description="Deliver N emails over C concurrent SMTP sessions.")
    p.add_argument("--model", required=True, choices=sorted(MODELS),
                   metavar="python-asyncio|python-threads")
    p.add_argument("--emails", required=True, type=number(1, MAX_EMAILS),
                   metavar="N")
    p.add_argument("--concurrency", required=True,
                   type=number(1, MAX_CONCURRENCY), metavar="C")
    p.add_argument("--reuse", action="store_true")
    p.add_argument("--server", default="127.0.0.1:2525", metavar="HOST:PORT")
    p.add_argument("--size", default=1024, type=number(MIN_SIZE, MAX_SIZE),
                   metavar="BYTES")
    a = p.parse_args()
    try:
        a.addr = parse_server(a.server)
    except argparse.ArgumentTypeError as e:
        p.error("argument --server: %s" % e)
    a.model = MODELS[a.model]
    return a


def split_sessions(emails, concurrency):
    """Session i of C' = min(C, N) sends N/C' messages, one more when
    i < N % C'."""
    s = min(concurrency, emails)
    return [emails // s + (1 if i < emails % s else 0) for i in range(s)]


class Tally:
    """Accepted and failed messages, and the first error in time. The
    threads model shares one among its threads: `lock` protects it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = 0
        self.failed = 0
        self.first_error = None

    def ok(self):
        with self.lock:
            self.accepted += 1

    def fail(self, err):
        with self.lock:
            self.failed += 1
            if self.first_error is None:
                self.first_error = err


# --- python-asyncio ------------------------------------------------------

async def a_command(reader, writer, line, what, want):
    if line is not None:
        writer.write(line)
        if writer.transport.get_write_buffer_size():
            await writer.drain()
    while not check_reply(await reader.readline(), what, want):
        pass


async def a_dial(host, port):
    reader, writer = await asyncio.open_connection(host, port, limit=4096)
    try:
        await a_command(reader, writer, None, "greeting", 220)
        await a_command(reader, writer, CMD_EHLO, "EHLO", 250)
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def a_quit(reader, writer):
    # The messages are accepted already; an error here changes nothing.
    try:
        async with asyncio.timeout(MESSAGE_TIMEOUT):
            await a_command(reader, writer, CMD_QUIT, "QUIT", 221)
    except (OSError, SMTPError, TimeoutError, ValueError):
        pass
    writer.close()


async def a_session(args, wire, count, tally):
    conn = None
    for _ in range(count):
        try:
            async with asyncio.timeout(MESSAGE_TIMEOUT):
                if conn is None:
                    try:
                        conn = await a_dial(*args.addr)
                    except OSError as e:
                        raise SMTPError("connect: " + describe(e)) from e
                r, w = conn
                await a_command(r, w, CMD_MAIL, "MAIL FROM", 250)
                await a_command(r, w, CMD_RCPT, "RCPT TO", 250)
                await a_command(r, w, CMD_DATA, "DATA", 354)
                await a_command(r, w, wire, "end of data", 250)
        except (OSError, SMTPError, TimeoutError, ValueError) as e:
            tally.fail(describe(e))
            if conn is not None:
                conn[1].close()
            conn = None
            continue
        tally.ok()
        if not args.reuse:
            await a_quit(*conn)
            conn = None
    if conn is not None:
        await a_quit(*conn)


async def run_asyncio(args, wire, tally):
    await asyncio.gather(*(a_session(args, wire, n, tally)
                           for n in split_sessions(args.emails, args.concurrency)))


# --- python-threads ------------------------------------------------------

class Conn:
    """One blocking connection, owned by the thread that opened it."""

    def __init__(self, addr):
        try:
            self.sock = socket.create_connection(addr, timeout=MESSAGE_TIMEOUT)
        except OSError as e:
            raise SMTPError("connect: " + describe(e)) from e
        # Blocking mode with kernel timeouts: Python's own socket timeout
        # would poll() before every recv and send.
        self.sock.settimeout(None)
        tv = struct.pack("ll", int(MESSAGE_TIMEOUT), 0)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        self.reader = self.sock.makefile("rb", buffering=4096)
        try:
            self.command(None, "greeting", 220)
            self.command(CMD_EHLO, "EHLO", 250)
        except BaseException:
            self.close()
            raise

    def command(self, line, what, want):
        if line is not None:
            self.sock.sendall(line)
        while not check_reply(self.reader.readline(4096), what, want):
            pass

    def close(self):
        self.reader.close()
        self.sock.close()

    def quit(self):
        try:
            self.command(CMD_QUIT, "QUIT", 221)
        except (OSError, SMTPError):
            pass
        self.close()


def t_session(args, wire, count, tally):
    conn = None
    for _ in range(count):
        try:
            if conn is None:
                conn = Conn(args.addr)
            conn.command(CMD_MAIL, "MAIL FROM", 250)
            conn.command(CMD_RCPT, "RCPT TO", 250)
            conn.command(CMD_DATA, "DATA", 354)
            conn.command(wire, "end of data", 250)
        except (OSError, SMTPError) as e:
            tally.fail(describe(e))
            if conn is not None:
                conn.close()
            conn = None
            continue
        tally.ok()
        if not args.reuse:
            conn.quit()
            conn = None
    if conn is not None:
        conn.quit()


def run_threads(args, wire, tally):
    """One thread per session. They wait at a gate until all are
    running, so that C sessions really are in flight at once: without the
    gate (and with a ThreadPoolExecutor, tried first) the threads started
    early hold the GIL while the main thread creates the rest, finish
    their sessions, and are reused — 170 threads, not 200, at C = 200."""
    gate = threading.Event()

    def run(count):
        gate.wait()
        t_session(args, wire, count, tally)

    threads = [threading.Thread(target=run, args=(n,))
               for n in split_sessions(args.emails, args.concurrency)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    return len(threads) + 1             # and the main thread


# --- output --------------------------------------------------------------

def pretty(x, unit):
    """Go's testing.prettyPrint: a metric as the benchmark line prints it."""
    y = abs(x)
    if y == 0 or y >= 999.95:
        f = "%10.0f"
    elif y >= 99.995:
        f = "%12.1f"
    elif y >= 9.9995:
        f = "%13.2f"
    elif y >= 0.99995:
        f = "%14.3f"
    elif y >= 0.099995:
        f = "%15.4f"
    elif y >= 0.0099995:
        f = "%16.5f"
    elif y >= 0.00099995:
        f = "%17.6f"
    else:
        f = "%18.7f"
    return (f % x) + " " + unit


def cpu_ns():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return int((ru.ru_utime + ru.ru_stime) * 1e9)


def raise_nofile():
    """Sockets are file descriptors: let thousands of sessions have one,
    as Go and threadlab send do at start-up."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main():
    args = parse_args()
    raise_nofile()
    wire = dot_stuff(build_message(args.size))
    cpus = len(os.sched_getaffinity(0))
    tally = Tally()

    start, cpu0 = time.perf_counter_ns(), cpu_ns()
    if args.model == "python-asyncio":
        asyncio.run(run_asyncio(args, wire, tally))
        threads = len(os.listdir("/proc/self/task"))
        procs = 1
    else:
        threads = run_threads(args, wire, tally)
        procs = cpus
    wall, cpu = time.perf_counter_ns() - start, cpu_ns() - cpu0

    print("model: %s\nemails: %d\nconcurrency: %d\nreuse: %s\nsize: %d\n"
          "server: %s\nthreads: %d" % (args.model, args.emails, args.concurrency,
                                       "true" if args.reuse else "false",
                                       args.size, args.server, threads))
    name = "BenchmarkEmail/model=%s/conc=%d/reuse=%s" % (
        args.model, args.concurrency, "true" if args.reuse else "false")
    if procs != 1:
        name += "-%d" % procs
    # Not accepted = not answered 250, whether or not a failure was
    # recorded for it (a session thread that died of a bug records none).
    if tally.accepted < args.emails:
        print("--- FAIL: %s: %d of %d messages not accepted (first error: %s)"
              % (name, args.emails - tally.accepted, args.emails,
                 tally.first_error or "unknown"))
        sys.stdout.flush()
        return 1
    n = args.emails
    print("%s\t%8d\t%s\t%s\t%s" % (name, n, pretty(wall / n, "ns/op"),
                                   pretty(n / (wall / 1e9), "emails/s"),
                                   pretty(cpu / 1e3 / n, "cpu-us/email")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

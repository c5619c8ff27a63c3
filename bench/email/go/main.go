// The Go peer of `threadlab send`: deliver N emails to an SMTP server over
// C concurrent sessions, one goroutine per session, and print the result
// in the same form as `threadlab send` (bench/email/send.c):
//
//	go run . --emails 5000 --concurrency 200 [--reuse] [--server HOST:PORT] [--size BYTES]
//
// Settings come first as `key: value` lines, then one line in Go's
// benchmark format:
//
//	BenchmarkEmail/model=go/conc=200/reuse=false-2	    5000	    442600 ns/op	      2259 emails/s	       167.5 cpu-us/email
//
// ns/op is wall time per email, emails/s its inverse, cpu-us/email this
// process's user+sys CPU time (getrusage) per email, both over the sending
// only (start-up and flag parsing are left out). The -2 is GOMAXPROCS,
// which is set to the number of CPUs the process may run on. `threads` is
// the number of OS threads the Go runtime created (its threadcreate
// profile, which counts the main thread too): GOMAXPROCS bounds the threads
// running Go code, not those the runtime keeps for sysmon and for
// goroutines blocked in system calls.
//
// Sessions: session i of C' = min(C, N) gets N/C' messages, one more when
// i < N%C'. Without --reuse each message has its own connection (connect,
// greeting, EHLO, MAIL, RCPT, DATA, body, QUIT); with it, a session sends
// all its messages over one connection and QUITs at the end. A message
// that fails drops its connection; the session's next message opens a
// new one, so every message is tried exactly once.
//
// Exit status: 0 when every message got its 250; 1 when any did not (a
// `--- FAIL:` line says how many and the first error); 2 for bad flags.
//
// Shared state: the counters below, atomics; firstErr, under errMu.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type settings struct {
	emails, concurrency, size int
	reuse                     bool
	server                    string // as given, for the output
	addr                      string // what to dial: a numeric address
}

// The ranges `threadlab send` accepts (bench/email/send.c).
const (
	maxEmails      = 1000000000
	maxConcurrency = 65536
)

var (
	accepted atomic.Int64
	failed   atomic.Int64
	errMu    sync.Mutex
	firstErr error // the first failure in time; under errMu
)

func fail(err error) {
	failed.Add(1)
	errMu.Lock()
	if firstErr == nil {
		firstErr = err
	}
	errMu.Unlock()
}

// session delivers count messages, reconnecting after a failure.
func session(s *settings, wire []byte, count int) {
	var c *conn
	for i := 0; i < count; i++ {
		if c == nil {
			var err error
			if c, err = dial(s.addr); err != nil {
				fail(err)
				continue
			}
		}
		if err := c.send(wire); err != nil {
			fail(err)
			c.c.Close()
			c = nil
			continue
		}
		accepted.Add(1)
		if !s.reuse {
			c.quit()
			c = nil
		}
	}
	if c != nil {
		c.quit()
	}
}

func usageError(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "email-go: "+format+"\n", a...)
	fmt.Fprintln(os.Stderr, "usage: email-go --emails N --concurrency C [--reuse] [--server HOST:PORT] [--size BYTES]")
	os.Exit(2)
}

func parseFlags() *settings {
	s := &settings{}
	fs := flag.NewFlagSet("email-go", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&s.emails, "emails", 0, "messages to deliver (required, >= 1)")
	fs.IntVar(&s.concurrency, "concurrency", 0, "concurrent SMTP sessions (required, >= 1)")
	fs.BoolVar(&s.reuse, "reuse", false, "send all of a session's messages over one connection")
	fs.StringVar(&s.server, "server", "127.0.0.1:2525", "SMTP server HOST:PORT")
	fs.IntVar(&s.size, "size", 1024, "message size in bytes")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			fmt.Println("usage: email-go --emails N --concurrency C [--reuse] [--server HOST:PORT] [--size BYTES]")
			os.Exit(0)
		}
		usageError("%v", err)
	}
	if fs.NArg() > 0 {
		usageError("unexpected argument %q", fs.Arg(0))
	}
	if s.emails < 1 || s.emails > maxEmails {
		usageError("--emails must be from 1 to %d", maxEmails)
	}
	if s.concurrency < 1 || s.concurrency > maxConcurrency {
		usageError("--concurrency must be from 1 to %d", maxConcurrency)
	}
	if s.size < minSize || s.size > maxSize {
		usageError("--size must be from %d to %d", minSize, maxSize)
	}
	s.addr = parseServer(s.server)
	return s
}

// parseServer takes HOST:PORT as threadlab send does: a numeric IPv4
// address, [IPv6] or localhost (127.0.0.1), and a port from 1 to 65535;
// so no model spends time on name lookups.
func parseServer(server string) string {
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		usageError("--server %q: want HOST:PORT", server)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		usageError("--server %q: want a port from 1 to 65535", server)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if net.ParseIP(host) == nil {
		usageError("--server %q: want a numeric IPv4 address, [IPv6] or localhost", server)
	}
	return net.JoinHostPort(host, port)
}

func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// prettyPrint is Go's testing.prettyPrint: a metric as the benchmark
// line prints it.
func prettyPrint(w io.Writer, x float64, unit string) {
	var format string
	switch y := math.Abs(x); {
	case y == 0 || y >= 999.95:
		format = "%10.0f %s"
	case y >= 99.995:
		format = "%12.1f %s"
	case y >= 9.9995:
		format = "%13.2f %s"
	case y >= 0.99995:
		format = "%14.3f %s"
	case y >= 0.099995:
		format = "%15.4f %s"
	case y >= 0.0099995:
		format = "%16.5f %s"
	case y >= 0.00099995:
		format = "%17.6f %s"
	default:
		format = "%18.7f %s"
	}
	fmt.Fprintf(w, format, x, unit)
}

func main() {
	s := parseFlags()
	procs := runtime.NumCPU() // the CPUs in this process's affinity mask
	runtime.GOMAXPROCS(procs)
	wire := dotStuff(buildMessage(s.size))

	sessions := s.concurrency
	if sessions > s.emails {
		sessions = s.emails
	}
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), cpuNs()
	for i := 0; i < sessions; i++ {
		count := s.emails / sessions
		if i < s.emails%sessions {
			count++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			session(s, wire, count)
		}()
	}
	wg.Wait()
	wall, cpu := time.Since(start), cpuNs()-cpu0
	threads := pprof.Lookup("threadcreate").Count()

	fmt.Printf("model: go\nemails: %d\nconcurrency: %d\nreuse: %t\nsize: %d\nserver: %s\nthreads: %d\n",
		s.emails, s.concurrency, s.reuse, s.size, s.server, threads)
	name := fmt.Sprintf("BenchmarkEmail/model=go/conc=%d/reuse=%t", s.concurrency, s.reuse)
	if procs != 1 {
		name += fmt.Sprintf("-%d", procs)
	}
	// Not accepted = not answered 250, whether or not a failure was
	// recorded for it.
	if k := int64(s.emails) - accepted.Load(); k > 0 {
		why := "unknown"
		if firstErr != nil {
			why = firstErr.Error()
		}
		fmt.Printf("--- FAIL: %s: %d of %d messages not accepted (first error: %s)\n",
			name, k, s.emails, why)
		os.Exit(1)
	}
	n := float64(s.emails)
	fmt.Printf("%s\t%8d\t", name, s.emails)
	prettyPrint(os.Stdout, float64(wall.Nanoseconds())/n, "ns/op")
	fmt.Print("\t")
	prettyPrint(os.Stdout, n/wall.Seconds(), "emails/s")
	fmt.Print("\t")
	prettyPrint(os.Stdout, float64(cpu)/1e3/n, "cpu-us/email")
	fmt.Println()
}

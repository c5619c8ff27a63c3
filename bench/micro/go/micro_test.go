// The Go peer of threadlab's micro-benchmarks: the same measurements as
// bench/micro/*.c, done with goroutines, printed by `go test -bench` in the
// same line format, so one table lines every model up.
//
//	GOMAXPROCS=2 go test -run '^$' -bench . -count 5
//
// Names follow threadlab's: BenchmarkX/model=go[/key=value]-GOMAXPROCS.
// `threadlab micro` runs this with GOMAXPROCS set to its worker count.
package micro

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Spawn + run + exit of one goroutine that does nothing; a wait group
// tells the spawner all of them have run.
func BenchmarkSpawn(b *testing.B) {
	b.Run("model=go", func(b *testing.B) {
		var wg sync.WaitGroup
		wg.Add(b.N)
		for i := 0; i < b.N; i++ {
			go wg.Done()
		}
		wg.Wait()
	})
}

// Yield hand-off: two goroutines take turns through runtime.Gosched.
// ns/op is per Gosched (one switch), as in threadlab's rt_yield benchmark.
func BenchmarkYield(b *testing.B) {
	b.Run("model=go", func(b *testing.B) {
		var wg sync.WaitGroup
		half := b.N / 2
		wg.Add(2)
		for g := 0; g < 2; g++ {
			go func() {
				for i := 0; i < half; i++ {
					runtime.Gosched()
				}
				wg.Done()
			}()
		}
		wg.Wait()
	})
}

func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// The resident set after a garbage collection that has also given the
// freed memory back to the OS.
func collectedRSS() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return rssBytes()
}

// Memory per parked goroutine: start N goroutines that block on a channel,
// and divide the growth of the resident set by N. Reported as B/task.
func BenchmarkParkedRSS(b *testing.B) {
	for _, n := range []int{100000, 1000000} {
		n := n
		b.Run("model=go/tasks="+strconv.Itoa(n), func(b *testing.B) {
			var perTask float64
			for i := 0; i < b.N; i++ {
				before := collectedRSS()
				release := make(chan struct{})
				var started sync.WaitGroup
				started.Add(n)
				for j := 0; j < n; j++ {
					go func() {
						started.Done()
						<-release
					}()
				}
				started.Wait()
				perTask = float64(rssBytes()-before) / float64(n)
				b.StopTimer()
				close(release)
				time.Sleep(10 * time.Millisecond)
				b.StartTimer()
			}
			b.ReportMetric(perTask, "B/task")
		})
	}
}

//go:noinline
func growDown(n int, bottom func()) int {
	var pad [1024]byte
	pad[0] = byte(n)
	pad[len(pad)-1] = byte(n)
	if n == 0 {
		if bottom != nil {
			bottom()
		}
		return int(pad[0])
	}
	return growDown(n-1, bottom) + int(pad[len(pad)-1])
}

// threadlab's GrowShrink: 1000 goroutines each use 64 frames of 1 KiB
// (64 KiB of stack), then block on a channel, at the bottom of the
// recursion (deep) or after coming back from it (after). 20 ms later —
// and for "after", after runtime.GC() and debug.FreeOSMemory(), because
// Go shrinks a goroutine's stack (by half, when it uses less than a
// quarter) only during a garbage collection, and returns freed stacks to
// the OS only when its scavenger or FreeOSMemory does — the growth of the
// resident set per goroutine, as B/task.
func BenchmarkGrowShrink(b *testing.B) {
	const n, frames = 1000, 64
	for _, phase := range []string{"deep", "after"} {
		deep := phase == "deep"
		b.Run("model=go/phase="+phase+"/tasks=1000", func(b *testing.B) {
			var perTask float64
			for i := 0; i < b.N; i++ {
				before := collectedRSS()
				release := make(chan struct{})
				var parked, done sync.WaitGroup
				parked.Add(n)
				done.Add(n)
				wait := func() {
					parked.Done()
					<-release
				}
				for j := 0; j < n; j++ {
					go func() {
						defer done.Done()
						if deep {
							growDown(frames-1, wait)
						} else {
							growDown(frames-1, nil)
							wait()
						}
					}()
				}
				parked.Wait()
				time.Sleep(20 * time.Millisecond)
				var after int64
				if deep {
					after = rssBytes()
				} else {
					after = collectedRSS()
				}
				if i == 0 {
					perTask = float64(after-before) / float64(n)
				}
				close(release)
				done.Wait()
			}
			b.ReportMetric(perTask, "B/task")
		})
	}
}

//go:noinline
func leaf(x int) int {
	var pad [256]byte
	pad[x&255] = byte(x)
	return int(pad[(x+1)&255]) + x
}

// The hot-split loop of threadlab's segmented stacks, in Go: a call in a
// loop made when the stack is nearly full. Go's stacks are contiguous
// (copied when they grow, since Go 1.3), so after the first growth the
// call costs what any call costs — the problem Go left segmented stacks for.
func BenchmarkHotSplit(b *testing.B) {
	b.Run("model=go", func(b *testing.B) {
		s := 0
		for i := 0; i < b.N; i++ {
			s += leaf(i)
		}
		if s == -1 {
			b.Log(s)
		}
	})
}

// Unbuffered channel round trip between two goroutines.
func BenchmarkChanPingPong(b *testing.B) {
	b.Run("model=go", func(b *testing.B) {
		ping, pong := make(chan int), make(chan int)
		go func() {
			for v := range ping {
				pong <- v
			}
		}()
		for i := 0; i < b.N; i++ {
			ping <- i
			<-pong
		}
		close(ping)
	})
}

// Buffered producer -> consumer throughput; ns/op per element.
func BenchmarkChanBuffered(b *testing.B) {
	b.Run("model=go", func(b *testing.B) {
		c := make(chan int, 128)
		done := make(chan struct{})
		go func() {
			for range c {
			}
			close(done)
		}()
		for i := 0; i < b.N; i++ {
			c <- i
		}
		close(c)
		<-done
	})
}

// A mutex contended by N goroutines; ns/op per lock+unlock.
func BenchmarkMutex(b *testing.B) {
	for _, tasks := range []int{2, 16, 100} {
		tasks := tasks
		b.Run("model=go/tasks="+strconv.Itoa(tasks), func(b *testing.B) {
			var mu sync.Mutex
			var wg sync.WaitGroup
			counter := 0
			per := b.N / tasks
			wg.Add(tasks)
			for t := 0; t < tasks; t++ {
				go func() {
					for i := 0; i < per; i++ {
						mu.Lock()
						counter++
						mu.Unlock()
					}
					wg.Done()
				}()
			}
			wg.Wait()
			if counter != per*tasks {
				b.Fatalf("counter %d, want %d", counter, per*tasks)
			}
		})
	}
}

// select over four channels that are always ready; ns/op per select.
func BenchmarkSelect4(b *testing.B) {
	b.Run("model=go", func(b *testing.B) {
		var cs [4]chan int
		for i := range cs {
			cs[i] = make(chan int, 1)
			cs[i] <- 0
		}
		for i := 0; i < b.N; i++ {
			select {
			case v := <-cs[0]:
				cs[0] <- v
			case v := <-cs[1]:
				cs[1] <- v
			case v := <-cs[2]:
				cs[2] <- v
			case v := <-cs[3]:
				cs[3] <- v
			}
		}
	})
}

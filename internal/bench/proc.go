package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat; it is 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// ProcSample is what the kernel says about a server process at one moment.
type ProcSample struct {
	RSS int64         `json:"rss"` // resident bytes (smaps_rollup, else status)
	CPU time.Duration `json:"cpu"` // user + system time since start
}

// SampleProc reads pid's resident memory and CPU time from /proc.
func SampleProc(pid int) (ProcSample, error) {
	var s ProcSample
	rss, err := procRSS(pid)
	if err != nil {
		return s, err
	}
	s.RSS = rss
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("reading CPU time: %w", err)
	}
	// The command name (field 2) may hold spaces; fields count from its ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// utime and stime are fields 14 and 15, i.e. f[11] and f[12].
	for _, field := range f[11:13] {
		ticks, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		s.CPU += time.Duration(ticks) * clockTick
	}
	return s, nil
}

// procRSS prefers smaps_rollup's Rss (exact) to status's VmRSS (which the
// kernel updates lazily).
func procRSS(pid int) (int64, error) {
	for _, src := range []struct{ file, key string }{
		{"smaps_rollup", "Rss:"},
		{"status", "VmRSS:"},
	} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/%s", pid, src.file))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			rest, ok := strings.CutPrefix(sc.Text(), src.key)
			if !ok {
				continue
			}
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			f.Close()
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/%s: %w", pid, src.file, err)
			}
			return kb << 10, nil
		}
		f.Close()
	}
	return 0, fmt.Errorf("no resident size for process %d in /proc", pid)
}

// ServerStats is the answer of a server's GET /debug/stats (rollcall
// serve --debug, and the comparator).
type ServerStats struct {
	Goroutines int    `json:"goroutines"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	HeapInuse  uint64 `json:"heap_inuse"`
	HeapSys    uint64 `json:"heap_sys"`
	Sys        uint64 `json:"sys"`
	// The runtime's own memory besides the heap (rollcall only): goroutine
	// stacks, span structures, GC metadata and the rest, each as obtained
	// from the OS. Span structures are never given back.
	StackSys uint64 `json:"stack_sys,omitempty"`
	MSpanSys uint64 `json:"mspan_sys,omitempty"`
	GCSys    uint64 `json:"gc_sys,omitempty"`
	OtherSys uint64 `json:"other_sys,omitempty"`
}

// FetchStats asks the server at base (http://host:port) for its runtime
// statistics; gc makes it collect garbage and return memory to the OS first.
func FetchStats(ctx context.Context, base string, gc bool) (ServerStats, error) {
	var st ServerStats
	url := strings.TrimSuffix(base, "/") + "/debug/stats"
	if gc {
		url += "?gc=1"
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("server stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("server stats: %s %s (is the server started with --debug?)", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("server stats: %w", err)
	}
	return st, nil
}

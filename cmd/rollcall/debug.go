package main

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"

	"github.com/rollcall/rollcall/internal/bench"
)

// withDebug serves the Go profiler under /debug/pprof/ and runtime figures
// at /debug/stats (?gc=1 collects garbage and returns memory to the OS
// first) in front of next. It is for benchmarks and profiling, turned on
// by --debug; never expose it.
func withDebug(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			debug.FreeOSMemory()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(bench.ServerStats{ // what `rollcall bench` reads
			Goroutines: runtime.NumGoroutine(),
			HeapAlloc:  ms.HeapAlloc, HeapInuse: ms.HeapInuse, HeapSys: ms.HeapSys, Sys: ms.Sys,
			StackSys: ms.StackSys, MSpanSys: ms.MSpanSys, GCSys: ms.GCSys, OtherSys: ms.OtherSys,
		})
	})
	mux.Handle("/", next)
	return mux
}

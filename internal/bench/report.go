package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Figure is one measured number.
type Figure struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
	// Better is "lower" or "higher", or "" when neither is.
	Better string `json:"better,omitempty"`
}

// Outcome is one server's run of a scenario.
type Outcome struct {
	Server  string   `json:"server"`
	Run     int      `json:"run"`
	Figures []Figure `json:"figures"`
	Notes   []string `json:"notes,omitempty"`
}

// Report is everything one invocation measured.
type Report struct {
	Scenario string    `json:"scenario"`
	Params   Params    `json:"params"`
	Rates    []float64 `json:"rates,omitempty"`
	Machine  string    `json:"machine"`
	Started  time.Time `json:"started"`
	Outcomes []Outcome `json:"outcomes"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// machine describes the host for the report.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs, %s/%s, %s", model, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// ms is d in milliseconds, the unit of the reports' times.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

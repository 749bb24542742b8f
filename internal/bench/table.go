package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// servers lists the report's servers in the order they first ran.
func (r *Report) servers() []string {
	var names []string
	for _, o := range r.Outcomes {
		if !slices.Contains(names, o.Server) {
			names = append(names, o.Server)
		}
	}
	return names
}

// Median is the median over runs of server's figure name, and whether
// there was one.
func (r *Report) Median(server, name string) (float64, bool) {
	var vs []float64
	for _, o := range r.Outcomes {
		if o.Server != server {
			continue
		}
		for _, f := range o.Figures {
			if f.Name == name {
				vs = append(vs, f.Value)
			}
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

// WriteTable writes the figures side by side, one column per server (the
// median over runs), with the ratio of the first server to the second.
func (r *Report) WriteTable(w io.Writer) error {
	servers := r.servers()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	head := []string{"figure", "unit"}
	head = append(head, servers...)
	if len(servers) == 2 {
		head = append(head, servers[0]+" / "+servers[1], "better")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	var names []string
	better := map[string]string{}
	units := map[string]string{}
	for _, o := range r.Outcomes {
		for _, f := range o.Figures {
			if !slices.Contains(names, f.Name) {
				names = append(names, f.Name)
				better[f.Name], units[f.Name] = f.Better, f.Unit
			}
		}
	}
	for _, name := range names {
		row := []string{name, units[name]}
		var vals []float64
		for _, s := range servers {
			v, ok := r.Median(s, name)
			if !ok {
				row = append(row, "–")
				vals = append(vals, math.NaN())
				continue
			}
			row = append(row, format(v))
			vals = append(vals, v)
		}
		if len(servers) == 2 {
			row = append(row, ratio(vals[0], vals[1]), winner(servers, vals, better[name]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range r.Outcomes {
		for _, n := range o.Notes {
			fmt.Fprintf(w, "note (%s, run %d): %s\n", o.Server, o.Run, n)
		}
	}
	return nil
}

func format(v float64) string {
	switch a := math.Abs(v); {
	case v == math.Trunc(v) && a < 1e15:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func winner(servers []string, vals []float64, better string) string {
	a, b := vals[0], vals[1]
	if math.IsNaN(a) || math.IsNaN(b) || a == b || better == "" || a < 0 || b < 0 {
		return ""
	}
	if (better == "lower") == (a < b) {
		return servers[0]
	}
	return servers[1]
}

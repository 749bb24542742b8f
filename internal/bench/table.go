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

// comparators maps each comparator to the run it is compared with:
// Centrifuge with rollcall over sgc, soketi with rollcall over Pusher, and
// rollcall with diffs with rollcall per event.
var comparators = map[string]string{"centrifuge": "rollcall", "soketi": "rollcall-pusher", "rollcall-diffs": "rollcall"}

// pairs are the ratio columns of the table, as indices into servers: each
// comparator beside its rollcall run; or, with two servers and no such
// pair, the first beside the second.
func pairs(servers []string) [][2]int {
	var ps [][2]int
	for j, s := range servers {
		if i := slices.Index(servers, comparators[s]); comparators[s] != "" && i >= 0 {
			ps = append(ps, [2]int{i, j})
		}
	}
	if len(ps) == 0 && len(servers) == 2 {
		ps = append(ps, [2]int{0, 1})
	}
	return ps
}

// WriteTable writes the figures side by side, one column per server (the
// median over runs), with a ratio column for each pair (see pairs): the
// first server of the pair divided by the second, and which is better.
func (r *Report) WriteTable(w io.Writer) error {
	servers := r.servers()
	ps := pairs(servers)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	head := []string{"figure", "unit"}
	head = append(head, servers...)
	for _, p := range ps {
		head = append(head, servers[p[0]]+" / "+servers[p[1]], "better")
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
		for _, p := range ps {
			pair, pv := []string{servers[p[0]], servers[p[1]]}, []float64{vals[p[0]], vals[p[1]]}
			row = append(row, ratio(pv[0], pv[1]), winner(pair, pv, better[name]))
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
	if r := a / b; r != 0 && math.Abs(r) < 0.01 {
		// Two significant digits rather than "0.00×" for a ratio that is not 0.
		return fmt.Sprintf("%.2g×", r)
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

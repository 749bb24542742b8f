package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Where a configuration value came from, as --print-config says it.
const (
	fromDefault = "default"
	fromFile    = "file"
	fromEnv     = "env"
	fromFlag    = "flag"
)

// envKeys are the environment variables `rollcall serve` reads, by the
// YAML key they set. The environment wins over the file, flags over both.
var envKeys = map[string]string{
	"addr":            "ROLLCALL_ADDR",
	"api_key":         "ROLLCALL_API_KEY",
	"auth.jwt_secret": "ROLLCALL_JWT_SECRET",
}

// funcFlagKeys are the YAML keys of the flags that are functions (so that
// flagKeys cannot find their field). A flag absent from here and without a
// field has no key: --config, --print-config, --pusher-app and
// --pusher-webhook (the flags' apps are not the file's apps list).
var funcFlagKeys = map[string]string{
	"allowed-origins":       "allowed_origins",
	"public-origin":         "public_origins",
	"cluster-peers":         "cluster_peers",
	"nats":                  "nats",
	"sgc-reserved-channels": "pusher.sgc_channels",
}

// secretKeys are printed by --print-config as "(set)", never as they are
// (and so is every Pusher app's secret).
var secretKeys = map[string]bool{"api_key": true, "auth.jwt_secret": true}

// listIndex is a list item's index in a key path: pusher.apps[0].
var listIndex = regexp.MustCompile(`\[\d+\]\.`)

// fieldKeys maps the address of every field of the struct v (a pointer)
// to its YAML key, nested ones as section.key.
func fieldKeys(v reflect.Value, prefix string, out map[uintptr]string) {
	v = v.Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		fv := v.Field(i).Addr()
		switch {
		case opts == "inline":
			fieldKeys(fv, prefix, out)
		case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]():
			fieldKeys(fv, prefix+name+".", out)
		default:
			out[fv.Pointer()] = prefix + name
		}
	}
}

// flagKeys maps the name of every flag of fs, bound to the fields of cfg,
// to the YAML key of its field.
func flagKeys(cfg *config, fs *flag.FlagSet) map[string]string {
	fields := map[uintptr]string{}
	fieldKeys(reflect.ValueOf(cfg), "", fields)
	keys := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if k, ok := funcFlagKeys[f.Name]; ok {
			keys[f.Name] = k
			return
		}
		v := reflect.ValueOf(f.Value)
		if v.Kind() == reflect.Struct && v.NumField() == 1 { // durationFlag
			v = v.Field(0)
		}
		if v.Kind() == reflect.Pointer {
			if k, ok := fields[v.Pointer()]; ok {
				keys[f.Name] = k
			}
		}
	})
	return keys
}

// explainFlags ends the help text of every flag of fs that has a YAML key
// with that key.
func explainFlags(cfg *config, fs *flag.FlagSet) {
	keys := flagKeys(cfg, fs)
	fs.VisitAll(func(f *flag.Flag) {
		if k, ok := keys[f.Name]; ok {
			f.Usage += " (YAML " + k + ")"
		}
	})
}

// checkKeys refuses a key of the YAML document n that the configuration
// does not have, naming its line and the nearest key it does have.
func checkKeys(n *yaml.Node, t reflect.Type, prefix string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := checkKeys(c, t, prefix); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				return unknownKeyError{line: k.Line, key: prefix + k.Value, near: nearestKey(prefix, k.Value)}
			}
			switch {
			case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]() && v.Kind == yaml.MappingNode:
				if err := checkKeys(v, ft, prefix+k.Value+"."); err != nil {
					return err
				}
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && v.Kind == yaml.SequenceNode:
				for j, item := range v.Content {
					if err := checkKeys(item, ft.Elem(), fmt.Sprintf("%s%s[%d].", prefix, k.Value, j)); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// yamlFields maps the YAML keys of the struct type t (inline sections'
// keys included) to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case !f.IsExported() || name == "-":
		case opts == "inline":
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
		default:
			out[name] = f.Type
		}
	}
	return out
}

// unknownKeyError is a key of the configuration file that means nothing.
type unknownKeyError struct {
	line      int
	key, near string
}

func (e unknownKeyError) Error() string {
	s := fmt.Sprintf("line %d: unknown key %q", e.line, e.key)
	if e.near != "" {
		s += fmt.Sprintf(" (did you mean %q?)", e.near)
	}
	return s
}

// allKeys are every key of the configuration file, nested ones as
// section.key (list items' keys as section.list[].key).
var allKeys = keysOf(reflect.TypeFor[config](), "")

func keysOf(t reflect.Type, prefix string) []string {
	var out []string
	for name, ft := range yamlFields(t) {
		out = append(out, prefix+name)
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]():
			out = append(out, keysOf(ft, prefix+name+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, keysOf(ft.Elem(), prefix+name+"[].")...)
		}
	}
	slices.Sort(out)
	return out
}

// nearestKey is the key of the configuration closest to key written under
// prefix: a flag's spelling (max-connections), a typo, or a key of another
// section; "" when none is close.
func nearestKey(prefix, key string) string {
	want := strings.ReplaceAll(key, "-", "_")
	// A list item's prefix (pusher.apps[0].) is the list's (pusher.apps[].).
	section := listIndex.ReplaceAllString(prefix, "[].")
	best, bestD := "", max(2, len(want)/3)+1
	for _, k := range allKeys {
		d := levenshtein(section+want, k)
		if i := strings.LastIndexByte(k, '.'); i >= 0 && k[:i+1] != section {
			d = min(d, levenshtein(want, k[i+1:])+1) // the key of another section
		} else if i < 0 && section != "" {
			d = min(d, levenshtein(want, k)+1) // a top-level key inside a section
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	if rest, ok := strings.CutPrefix(best, section); ok && section != "" {
		return prefix + rest // pusher.apps[0].secret, not pusher.apps[].secret
	}
	return best
}

// levenshtein is the edit distance between a and b, in bytes.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// fileKeys lists the keys the YAML document n sets, nested ones as
// section.key; a list counts as one key.
func fileKeys(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			fileKeys(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind == yaml.MappingNode {
				fileKeys(v, prefix+k.Value+".", out)
			} else {
				out[prefix+k.Value] = true
			}
		}
	}
}

// printConfig writes cfg as YAML, each value with a comment saying where
// it came from (sources: key -> "flag --x", "env X", "file" or absent for
// the default). Secrets are printed as "(set)".
func printConfig(w io.Writer, cfg config, sources map[string]string, flagApps int) error {
	var doc yaml.Node
	if err := doc.Encode(cfg); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	annotate(&doc, "", sources)
	fmt.Fprintln(w, "# rollcall serve: the configuration in effect; each value says where it came from")
	fmt.Fprintln(w, "# (precedence: flag > env > file > default)")
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	if flagApps > 0 {
		fmt.Fprintf(w, "# and %d Pusher app(s) from --pusher-app, besides pusher.apps\n", flagApps)
	}
	return enc.Close()
}

// annotate writes durations as durations, hides secrets, and comments
// every value of the mapping n with its source.
func annotate(n *yaml.Node, prefix string, sources map[string]string) {
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			annotate(c, prefix, sources)
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := prefix + k.Value
		if v.Kind == yaml.MappingNode && !durationKeys[key] {
			annotate(v, key+".", sources)
			continue
		}
		if durationKeys[key] {
			if ns, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
				v.SetString(time.Duration(ns).String())
			}
		}
		if secretKeys[key] && v.Value != "" {
			v.SetString("(set)")
		}
		if key == "nats" && v.Kind == yaml.SequenceNode {
			for _, item := range v.Content {
				if u, err := url.Parse(item.Value); err == nil && u.User != nil {
					if _, ok := u.User.Password(); ok {
						u.User = nil
						item.SetString(strings.Replace(u.String(), "://", "://(user and password set)@", 1))
					}
				}
			}
		}
		if key == "pusher.apps" && v.Kind == yaml.SequenceNode {
			for _, app := range v.Content {
				for j := 0; j+1 < len(app.Content); j += 2 {
					if app.Content[j].Value == "secret" {
						app.Content[j+1].SetString("(set)")
					}
				}
			}
		}
		src := sources[key]
		if src == "" {
			src = fromDefault
		}
		if v.Kind == yaml.ScalarNode || len(v.Content) == 0 {
			v.LineComment = src
		} else {
			k.LineComment = src
		}
	}
}

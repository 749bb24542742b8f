package main

// TestDocCommands walks the README and docs/*.md: every command line of
// their shell blocks is run here against real `rollcall serve` processes
// (this test binary re-run as rollcall, see TestMain), or is listed in
// notRunHere with the reason it cannot run here. A new command line that
// is neither fails the test, so the docs cannot drift from the code
// unnoticed.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/internal/testkit"
)

// notRunHere lists the command lines of the docs that this test does not
// run, each with why. A line is matched as docCommands gives it: its
// continuation lines joined, its comment cut. Paths of our own scripts
// among them are checked to exist.
var notRunHere = map[string]string{
	"./scripts/test":                           "the whole suite, this test included",
	"sudo ./scripts/check-proxies":             "installs nginx and caddy as root; it runs docs/deploy.md's proxy configurations itself",
	"bench/run":                                "the standard benchmark suite: an hour of load",
	"bench/compare REV":                        "a benchmark of two revisions: minutes of load",
	"bench/compare 2fa0555":                    "a benchmark of two revisions: minutes of load",
	"RUNS=2 bench/compare b455cfa idle fanout": "a benchmark of two revisions: minutes of load",
	"go test -run '^$' -bench BenchmarkFullList50k -benchtime 10x -count 3 ./client": "a benchmark of 50,000 members, 30 s of load (go test ./client runs the list in pages at 5,000)",
	"rollcall serve --addr :8080 --node n1 --nats nats://10.0.0.9:4222":              "an external NATS on another host (TestClusterExternalNATS runs one on loopback)",
	"go install github.com/rollcall/rollcall/cmd/rollcall@latest":                    "downloads the released module",
	"rollcall serve --addr :8080 --node n1 --cluster-listen 10.0.0.1:7301 --cluster-peers 10.0.0.2:7301,10.0.0.3:7301 --cluster-secret-file cluster.secret --cluster-tls-cert n1.pem --cluster-tls-key n1.key --cluster-tls-ca ca.pem":                                                         "a cluster across three hosts (TestClusterMutualTLS runs mutual TLS on loopback)",
	"rollcall serve --addr :8080 --node n1 --cluster-listen 10.0.0.1:7301 --cluster-peers 10.0.0.2:7301,10.0.0.3:7301 --cluster-secret-file /etc/rollcall/cluster.secret --cluster-tls-cert /etc/rollcall/n1.pem --cluster-tls-key /etc/rollcall/n1.key --cluster-tls-ca /etc/rollcall/ca.pem": "a cluster across three hosts, with certificates in /etc (TestClusterMutualTLS runs mutual TLS on loopback)",
	`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 -keyout ca.key -out ca.pem -subj "/CN=rollcall cluster CA"`:                                                                                                                                                "the certificates of a cluster across hosts (TestClusterMutualTLS makes its own)",
	`openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout n1.key -out n1.csr -subj "/CN=n1"`:                                                                                                                                                                                 "the certificates of a cluster across hosts (TestClusterMutualTLS makes its own)",
	`openssl x509 -req -in n1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -out n1.pem -extfile <(printf "subjectAltName=IP:10.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")`:                                                                                                    "the certificates of a cluster across hosts (TestClusterMutualTLS makes its own)",
	`unshare -n sh -c 'ip link set lo up; sysctl -qw net.ipv4.ip_local_port_range="1024 65000"; bin/rollcall bench cluster --only crash --members 1000 --runs 3 --comparator bin/centrifuge-bench'`:                                                                                            "needs root for a network namespace; the same bench line is checked in the README",
}

// docCommand is one command line of a shell block in the docs.
type docCommand struct {
	file  string   // "README.md", "docs/http-api.md"
	line  int      // where it starts
	block int      // which block of the file, from 0
	text  string   // continuation lines joined, comment cut
	out   []string // the lines after it up to the next command: its output, or a file's content
}

func (c docCommand) String() string { return fmt.Sprintf("%s:%d: %s", c.file, c.line, c.text) }

// commandWords are the first words of command lines; other lines of a
// block are the output of the command before them.
var commandWords = []string{"rollcall", "./rollcall", "bin/rollcall", "go", "curl", "printf", "sudo", "openssl", "unshare"}

var (
	envAssignRe = regexp.MustCompile(`^([A-Z_][A-Z0-9_]*)=(\S*)\s+`)
	fenceRe     = regexp.MustCompile("^```(\\w*)\\s*$")
	fileNoteRe  = regexp.MustCompile(`^# ([\w.-]+\.\w+)$`) // "# users.txt": the file's content follows
)

func isCommand(line string) bool {
	for envAssignRe.MatchString(line) {
		line = envAssignRe.ReplaceAllString(line, "")
	}
	first, _, _ := strings.Cut(line, " ")
	return slices.Contains(commandWords, first) || strings.HasPrefix(first, "./scripts/") || strings.HasPrefix(first, "bench/")
}

// cutComment removes a trailing "  # comment" (not a # inside quotes).
func cutComment(line string) string {
	quote := rune(0)
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || line[i-1] == ' '):
			return strings.TrimSpace(line[:i])
		}
	}
	return strings.TrimSpace(line)
}

// openQuote reports whether s ends inside a single- or double-quoted string.
func openQuote(s string) bool {
	quote := rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '\'' || r == '"'):
			quote = r
		}
	}
	return quote != 0
}

// docCommands returns the command lines of the shell blocks (sh, bash,
// console, shell; and blocks without a language whose first line is a
// command) of README.md and docs/*.md.
func docCommands(t *testing.T) []docCommand {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	var cmds []docCommand
	for _, path := range append([]string{"../../README.md"}, files...) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(path, "../../")
		lines := strings.Split(string(b), "\n")
		block := -1
		for i := 0; i < len(lines); i++ {
			m := fenceRe.FindStringSubmatch(lines[i])
			if m == nil {
				continue
			}
			end := i + 1
			for end < len(lines) && !strings.HasPrefix(lines[end], "```") {
				end++
			}
			body := lines[i+1 : end]
			start := i + 1
			i = end
			switch m[1] {
			case "sh", "bash", "console", "shell":
			case "":
				if len(body) == 0 || !isCommand(body[0]) {
					continue // a text block
				}
			default:
				continue
			}
			block++
			benchOut := false // after a bench line and a blank line: its table, to the end of the block
			for j := 0; j < len(body); j++ {
				line, at := body[j], start+j+1
				last := len(cmds) - 1
				inBlock := last >= 0 && cmds[last].file == name && cmds[last].block == block
				switch {
				case benchOut:
					cmds[last].out = append(cmds[last].out, line)
					continue
				case strings.TrimSpace(line) == "":
					benchOut = inBlock && strings.Contains(cmds[last].text, " bench ")
					continue
				case strings.HasPrefix(line, "#"):
					if fm := fileNoteRe.FindStringSubmatch(line); fm != nil {
						cmds = append(cmds, docCommand{file: name, line: at, block: block, text: line})
					}
					continue
				case !isCommand(line):
					if !inBlock {
						t.Errorf("%s:%d: not a command this test knows: %s", name, at, line)
						continue
					}
					cmds[last].out = append(cmds[last].out, line)
					continue
				}
				for (strings.HasSuffix(line, `\`) || openQuote(cutComment(line))) && j+1 < len(body) {
					j++
					line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(body[j])
				}
				text := strings.Join(strings.Fields(cutComment(line)), " ")
				cmds = append(cmds, docCommand{file: name, line: at, block: block, text: text})
			}
		}
	}
	return cmds
}

// shellWords splits s as sh would, for the quoting the docs use: words
// separated by spaces, '…' and "…" taken literally.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// rollcallArgs returns the arguments of a rollcall command line (after
// any NAME=value assignments, which it returns as env), or ok false.
func rollcallArgs(text string) (args, env []string, ok bool) {
	for {
		m := envAssignRe.FindStringSubmatch(text)
		if m == nil {
			break
		}
		env = append(env, m[1]+"="+m[2])
		text = text[len(m[0]):]
	}
	w := shellWords(text)
	switch {
	case len(w) >= 3 && w[0] == "go" && w[1] == "run" && w[2] == "./cmd/rollcall":
		return w[3:], env, true
	case len(w) >= 1 && (w[0] == "rollcall" || w[0] == "./rollcall" || w[0] == "bin/rollcall"):
		return w[1:], env, true
	}
	return nil, nil, false
}

// clusterLoopRe is the README's three nodes on one machine: a go build,
// then a serve line for each i.
var clusterLoopRe = regexp.MustCompile(`^go build \./cmd/rollcall && \(trap 'kill 0' INT; for i in ([0-9 ]+); do (\./rollcall serve [^&]+) & done; wait\)$`)

func TestDocCommands(t *testing.T) {
	cmds := docCommands(t)
	if len(cmds) < 30 {
		t.Fatalf("found only %d command lines in the docs: is the parser broken?", len(cmds))
	}
	var (
		serves = map[string][][]string{} // file:block -> the serve lines of a block, run together
		names  = map[string]string{}     // the same key -> file:line of its first serve line
		envs   = map[string][]string{}   // the same key -> env of the first serve line
		curls  = map[string][]docCommand{}
		order  []string // blocks with serve lines, in doc order
	)
	used := map[string]bool{}
	for _, c := range cmds {
		key := fmt.Sprintf("%s:%d", c.file, c.block)
		if m := clusterLoopRe.FindStringSubmatch(c.text); m != nil {
			checkPackagePath(t, c, "./cmd/rollcall")
			for _, i := range strings.Fields(m[1]) {
				args, _, _ := rollcallArgs(strings.ReplaceAll(m[2], "$i", i))
				if serves[key] == nil {
					order = append(order, key)
					names[key] = fmt.Sprintf("%s:%d", c.file, c.line)
				}
				serves[key] = append(serves[key], args[1:])
			}
			continue
		}
		if reason, ok := notRunHere[c.text]; ok {
			used[c.text] = true
			if w := strings.Fields(strings.TrimPrefix(c.text, "sudo "))[0]; strings.HasPrefix(w, "./scripts/") || strings.HasPrefix(w, "bench/") {
				if fi, err := os.Stat(filepath.Join("../..", w)); err != nil || fi.Mode()&0o111 == 0 {
					t.Errorf("%s: the script %s is not there, or not executable (%v); listed as not run: %s", c, w, err, reason)
				}
			}
			continue
		}
		if len(c.out) > 0 && !strings.HasPrefix(c.text, "curl ") && !strings.HasPrefix(c.text, "# ") && !strings.Contains(c.text, " bench ") {
			t.Errorf("%s: lines after it that are not commands: %q", c, c.out)
		}
		switch {
		case strings.HasPrefix(c.text, "# "):
			// a file's content, checked by the command that uses it
		case c.text == "go build ./cmd/rollcall":
			checkPackagePath(t, c, "./cmd/rollcall")
		case strings.HasPrefix(c.text, "curl "):
			curls[c.file] = append(curls[c.file], c)
		default:
			args, env, ok := rollcallArgs(c.text)
			if strings.HasPrefix(c.text, "go run ") {
				checkPackagePath(t, c, "./cmd/rollcall")
			}
			if pipe, _, found := strings.Cut(c.text, " | rollcall "); found && strings.HasPrefix(pipe, "printf ") {
				t.Run(fmt.Sprintf("hash-password %s:%d", c.file, c.line), func(t *testing.T) {
					t.Parallel()
					runPrintfHashPassword(t, c, cmds)
				})
				continue
			}
			if !ok || len(args) == 0 {
				t.Errorf("%s: neither run by this test nor listed in notRunHere", c)
				continue
			}
			if args[0] == "serve" && !slices.Contains(args, "[flags]") {
				if serves[key] == nil {
					order = append(order, key)
					names[key] = fmt.Sprintf("%s:%d", c.file, c.line)
					envs[key] = env
				}
				serves[key] = append(serves[key], args[1:])
				continue
			}
			t.Run(fmt.Sprintf("%s %s:%d", args[0], c.file, c.line), func(t *testing.T) {
				t.Parallel()
				runOneShot(t, c, args)
			})
		}
	}
	for text := range notRunHere {
		if !used[text] {
			t.Errorf("notRunHere lists a line no doc has (any more): %s", text)
		}
	}

	for _, key := range order {
		file, _, _ := strings.Cut(key, ":")
		cs := curls[file]
		delete(curls, file) // the first serve block of a file answers its curl lines
		t.Run("serve "+names[key], func(t *testing.T) {
			t.Parallel()
			runServeBlock(t, serves[key], envs[key], cs)
		})
	}
	for file, cs := range curls {
		t.Errorf("%s: curl lines but no serve line to run them against: %s", file, cs[0])
	}
}

// checkPackagePath fails unless pkg, from the repository root, is this
// command's package.
func checkPackagePath(t *testing.T, c docCommand, pkg string) {
	t.Helper()
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	there, err := filepath.Abs(filepath.Join("../..", pkg))
	if err != nil || here != there {
		t.Errorf("%s: %s is not the rollcall command's package (%s)", c, pkg, here)
	}
}

// runRollcall runs `rollcall args...` to its end with stdin.
func runRollcall(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	// A race-enabled binary waits a second at exit for reports, unless told not to.
	cmd.Env = append(os.Environ(), "ROLLCALL_RUN_MAIN=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("rollcall %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// runOneShot runs a rollcall command that ends by itself: version, a
// synopsis line (its flags checked against -h), bench (with -h appended:
// its flags are parsed, the load is not run), hash-password, connect.
func runOneShot(t *testing.T, c docCommand, args []string) {
	if i := slices.Index(args, "<"); i > 0 { // "hash-password < password-file"
		args = args[:i]
		out, errb, code := runRollcall(t, "pw\n", args...)
		if code != 0 || bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(out)), []byte("pw")) != nil {
			t.Errorf("%s: exit %d, %q %q: not the password's bcrypt hash", c, code, out, errb)
		}
		return
	}
	if strings.ContainsAny(c.text, "[]") { // a synopsis: rollcall connect URL[,URL...] --name NAME [--info TEXT] …
		_, help, code := runRollcall(t, "", args[0], "-h")
		if code != 0 {
			t.Errorf("%s: rollcall %s -h: exit %d\n%s", c, args[0], code, help)
		}
		for _, f := range regexp.MustCompile(`--[a-z][a-z0-9-]*`).FindAllString(c.text, -1) {
			if !regexp.MustCompile(`(?m)^  -` + f[2:] + `\b`).MatchString(help) {
				t.Errorf("%s: rollcall %s -h does not know %s", c, args[0], f)
			}
		}
		return
	}
	switch args[0] {
	case "version":
		out, errb, code := runRollcall(t, "", args...)
		if code != 0 || !strings.HasPrefix(out, "rollcall ") {
			t.Errorf("%s: exit %d, %q %q", c, code, out, errb)
		}
	case "bench":
		out, errb, code := runRollcall(t, "", append(args, "-h")...)
		if code != 0 || !strings.Contains(out+errb, "usage: rollcall bench") {
			t.Errorf("%s: with -h appended: exit %d\n%s%s", c, code, out, errb)
		}
	case "connect":
		runConnectLine(t, c, args)
	default:
		t.Errorf("%s: neither run by this test nor listed in notRunHere", c)
	}
}

// runConnectLine runs a connect line against a server of its own, with
// stdin closed: it connects, joins and leaves at the end of its input.
func runConnectLine(t *testing.T, c docCommand, args []string) {
	p := startProc(t, "server of "+c.String(), nil, "--addr", "127.0.0.1:0")
	name := ""
	for i, a := range args {
		if strings.HasPrefix(a, "ws://") {
			args[i] = regexp.MustCompile(`^ws://[^/]+`).ReplaceAllString(a, "ws://"+p.addr)
		}
		if a == "--name" && i+1 < len(args) {
			name = args[i+1]
		}
	}
	out, errb, code := runRollcall(t, "", args...)
	if code != 0 || !strings.Contains(out, "connected as "+name) || !strings.Contains(out, "online (1): "+name) {
		t.Errorf("%s: exit %d\n%s%s", c, code, out, errb)
	}
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 10*time.Second)
}

// runPrintfHashPassword runs `printf '%s\n' 'PASSWORD' | rollcall hash-password`
// and, when the block goes on with a users file (# users.txt) whose hash is
// elided, the file with the hash filled in through the users file parser.
func runPrintfHashPassword(t *testing.T, c docCommand, cmds []docCommand) {
	pipe, rest, _ := strings.Cut(c.text, " | ")
	pw := shellWords(pipe)
	if len(pw) != 3 || pw[1] != `%s\n` {
		t.Fatalf("%s: want printf '%%s\\n' 'PASSWORD' | …", c)
	}
	args, _, _ := rollcallArgs(rest)
	out, errb, code := runRollcall(t, pw[2]+"\n", args...)
	hash := strings.TrimSpace(out)
	if code != 0 || bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw[2])) != nil {
		t.Fatalf("%s: exit %d, %q %q: not the password's bcrypt hash", c, code, out, errb)
	}
	for _, f := range cmds {
		if f.file != c.file || f.block != c.block || !strings.HasPrefix(f.text, "# ") {
			continue
		}
		text := regexp.MustCompile(`\$2a\$10\$\.\.\.`).ReplaceAllLiteralString(strings.Join(f.out, "\n"), hash)
		users, err := parseUsers(strings.NewReader(text), f.text[2:])
		if err != nil || len(users) == 0 {
			t.Errorf("%s: %v", f, err)
		}
		for login, u := range users {
			if bcrypt.CompareHashAndPassword(u.hash, []byte(pw[2])) != nil {
				t.Errorf("%s: %s's hash is not the one hash-password printed", f, login)
			}
		}
	}
}

// runServeBlock starts the serve lines of one block at once, on loopback
// ports in place of the doc's, waits until each listens (and, for a
// cluster, is ready), runs the curl lines of the file against the first,
// and stops them all with SIGTERM.
func runServeBlock(t *testing.T, lines [][]string, env []string, curls []docCommand) {
	ports := map[string]string{} // the doc's port -> ours, for cluster addresses
	port := func(hostport string) string {
		host, p, _ := strings.Cut(hostport, ":")
		if host != "127.0.0.1" {
			t.Fatalf("cluster address %s is not on loopback: list the line in notRunHere", hostport)
		}
		if ports[p] == "" {
			ports[p] = strconv.Itoa(freePort(t))
		}
		return "127.0.0.1:" + ports[p]
	}
	var argss [][]string
	cluster := false
	for _, line := range lines {
		args := slices.Clone(line)
		if !slices.Contains(args, "--addr") {
			args = append(args, "--addr", "")
		}
		for i := 0; i+1 < len(args); i++ {
			switch args[i] {
			case "--addr":
				args[i+1] = "127.0.0.1:0"
			case "--cluster-listen":
				args[i+1], cluster = port(args[i+1]), true
			case "--cluster-peers":
				var ps []string
				for _, hp := range strings.Split(args[i+1], ",") {
					ps = append(ps, port(hp))
				}
				args[i+1] = strings.Join(ps, ",")
			}
		}
		argss = append(argss, args)
	}
	if len(curls) > 0 { // groups come only with credentials: the curl examples' server authenticates
		argss[0] = append(argss[0], "--auth", "basic", "--users", apiUsers(t))
	}
	procs := make([]*proc, len(argss))
	var wg sync.WaitGroup
	for i, args := range argss {
		wg.Go(func() { procs[i] = startProc(t, "rollcall serve "+strings.Join(lines[i], " "), env, args...) })
	}
	wg.Wait()
	for i, p := range procs {
		if p.addr == "" {
			t.Fatalf("rollcall serve %s did not start:\n%s", strings.Join(lines[i], " "), p.logs)
		}
	}
	if cluster {
		for _, p := range procs {
			testkit.Eventually(t, 20*time.Second, p.name+" ready", func() bool { return p.readyz() == http.StatusOK })
		}
	}
	if len(curls) > 0 {
		runCurls(t, procs[0], curls)
	}
	for _, p := range procs {
		p.signal(t, syscall.SIGTERM)
	}
	for _, p := range procs {
		if code := p.wait(t, 15*time.Second); code != 0 {
			t.Errorf("%s: exit %d after SIGTERM\n%s", p.name, code, p.logs)
		}
	}
}

// apiUsers writes the users file of the curl examples' server: alice in
// sales/eu, bob and carol in sales/us, password "pw" each.
func apiUsers(t *testing.T) string {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.txt")
	text := fmt.Sprintf("alice:%[1]s:alice:likes tea:sales/eu\nbob:%[1]s:bob::sales/us\ncarol:%[1]s:carol::sales/us\n", h)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCurls runs the curl lines of a doc in order, with Go's HTTP client,
// against p, which has alice and bob in lobby and carol online (whose
// session takes the place of any session id in a path). The key is the
// doc's own K (its "assume `K=…`"); each answer must be 2xx and, where the
// doc shows it, have the doc's JSON keys.
func runCurls(t *testing.T, p *proc, curls []docCommand) {
	doc, err := os.ReadFile(filepath.Join("../..", curls[0].file))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("assume `K=([^`]+)`").FindSubmatch(doc)
	if m == nil {
		t.Fatalf("%s: no \"assume `K=…`\" for its curl lines", curls[0].file)
	}
	k := string(m[1])
	basic := func(user string) func(*client.Options) {
		return func(o *client.Options) {
			o.HTTPHeader = http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":pw"))}}
		}
	}
	url := wsURL(p)
	alice, bob, carol := dial(t, url, "alice", basic("alice")), dial(t, url, "bob", basic("bob")), dial(t, url, "carol", basic("carol"))
	for _, c := range []*tclient{alice, bob} {
		if err := c.Subscribe(ctx10(t), "lobby"); err != nil {
			t.Fatal(err)
		}
	}
	sessionRe := regexp.MustCompile(`[0-9A-F]{32}`)
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	for _, c := range curls {
		w := shellWords(strings.ReplaceAll(c.text, "$K", k))
		method, body, target := "", "", ""
		header := http.Header{}
		for i := 1; i < len(w); i++ {
			switch a := w[i]; {
			case a == "-s" || a == "-sN" || a == "-N":
			case a == "-X" && i+1 < len(w):
				i++
				method = w[i]
			case a == "-H" && i+1 < len(w):
				i++
				name, value, _ := strings.Cut(w[i], ":")
				header.Add(name, strings.TrimSpace(value))
			case a == "-d" && i+1 < len(w):
				i++
				body = w[i]
			case strings.HasPrefix(a, "-"):
				t.Fatalf("%s: curl option %s: teach runCurls", c, a)
			default:
				target = a
			}
		}
		if method == "" {
			method = http.MethodGet
			if body != "" {
				method = http.MethodPost
			}
		}
		host, path, _ := strings.Cut(strings.TrimPrefix(target, "http://"), "/")
		if host != "localhost:8080" {
			t.Errorf("%s: the doc's server is on localhost:8080, not %s", c, host)
		}
		path = sessionRe.ReplaceAllLiteralString(path, carol.Session())
		req, err := http.NewRequest(method, "http://"+p.addr+"/"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // what curl -d sends
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		var got []byte
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			got = firstEvent(t, c, resp.Body)
		} else {
			got, err = io.ReadAll(resp.Body)
		}
		resp.Body.Close()
		if err != nil || resp.StatusCode/100 != 2 {
			t.Errorf("%s: %d %s %v", c, resp.StatusCode, got, err)
			continue
		}
		want := strings.Join(c.out, "\n")
		if strings.HasPrefix(want, "event: ") {
			_, want, _ = strings.Cut(want, "data: ")
			want, _, _ = strings.Cut(want, "\n")
		}
		if want != "" {
			if err := sameKeys(want, got); err != nil {
				t.Errorf("%s: the answer is not the doc's: %v\n doc: %s\n got: %s", c, err, want, got)
			}
		}
	}
}

// firstEvent returns the data of the first Server-Sent Event on r.
func firstEvent(t *testing.T, c docCommand, r io.Reader) []byte {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			return []byte(data)
		}
	}
	t.Fatalf("%s: no event: %v", c, sc.Err())
	return nil
}

// sameKeys compares the JSON keys of the doc's answer with the server's:
// for JSON, every object has the same keys as its counterpart (arrays by
// their first elements); for an answer the doc elides with "…", every key
// it names is in the server's answer.
func sameKeys(doc string, got []byte) error {
	var g any
	if err := json.Unmarshal(got, &g); err != nil {
		return err
	}
	var d any
	if json.Unmarshal([]byte(doc), &d) == nil {
		return compareKeys("", d, g)
	}
	keys := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				keys[k] = true
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(g)
	for _, m := range regexp.MustCompile(`"(\w+)":`).FindAllStringSubmatch(doc, -1) {
		if !keys[m[1]] {
			return fmt.Errorf("no key %q", m[1])
		}
	}
	return nil
}

func compareKeys(at string, d, g any) error {
	switch d := d.(type) {
	case map[string]any:
		gm, ok := g.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: an object in the doc, %T here", at, g)
		}
		for k := range d {
			if _, ok := gm[k]; !ok {
				return fmt.Errorf("%s: no key %q", at, k)
			}
			if err := compareKeys(at+"."+k, d[k], gm[k]); err != nil {
				return err
			}
		}
		for k := range gm {
			if _, ok := d[k]; !ok {
				return fmt.Errorf("%s: key %q, which the doc does not show", at, k)
			}
		}
	case []any:
		ga, ok := g.([]any)
		if !ok {
			return fmt.Errorf("%s: an array in the doc, %T here", at, g)
		}
		if len(d) > 0 && len(ga) > 0 {
			return compareKeys(at+"[0]", d[0], ga[0])
		}
	}
	return nil
}

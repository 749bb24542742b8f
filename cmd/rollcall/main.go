// Command rollcall runs the rollcall presence server, an interactive
// terminal client, and prints its version.
//
//	rollcall serve [flags]
//	rollcall connect URL[,URL...] --name NAME [--info TEXT] [--channel CH] [--user USER | --token JWT]
//	rollcall hash-password < password
//	rollcall version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/rollcall/rollcall/internal/bench"
)

// version may be set at build time with -ldflags "-X main.version=...";
// otherwise the module version from the build information is used (a tag
// with go install …@v1.2.3, a pseudo-version from the VCS with go build).
var version = "dev"

// versionString is what rollcall version prints: the version, the VCS
// revision and time (with ", modified" for a build from a changed tree) and
// the Go version, from runtime/debug.ReadBuildInfo.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	return formatVersion(version, info, ok)
}

func formatVersion(set string, info *debug.BuildInfo, ok bool) string {
	v := set
	var rev, when string
	modified := false
	if ok {
		if (v == "" || v == "dev") && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	out := "rollcall " + v
	if rev != "" {
		out += " (revision " + rev
		if when != "" {
			out += ", " + when
		}
		if modified {
			out += ", modified"
		}
		out += ")"
	}
	if ok && info.GoVersion != "" {
		out += ", " + info.GoVersion
	}
	return out
}

const usage = `rollcall: a presence server speaking the sgc Presence protocol

Usage:
  rollcall serve   [flags]      run the server (rollcall serve -h for flags)
  rollcall connect URL[,URL...] --name NAME [--info TEXT] [--channel CH] [--base64] [--user USER | --token JWT]
                                an interactive terminal client
  rollcall bench SCENARIO [flags]
                                load and measure a server: idle, fanout, joinstorm,
                                churn (rollcall bench -h)
  rollcall hash-password        read a password on stdin, print its bcrypt hash
                                (for the users file of serve --auth basic)
  rollcall version              print the version, VCS revision and Go version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "connect":
		err = runConnect(ctx, args[1:], stdin, stdout, stderr)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "bench-worker": // started by bench, not by people
		err = bench.ServeWorker(ctx, stdin, stdout)
	case "hash-password":
		err = runHashPassword(args[1:], stdin, stdout)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "rollcall: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(flagError)):
		fe := err.(flagError)
		fmt.Fprintf(stderr, "%s: %v\nrun '%s -h' for the flags\n", fe.cmd, fe.err, fe.cmd)
		return 2
	case errors.As(err, new(usageError)):
		fmt.Fprintln(stderr, "rollcall:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "rollcall:", err)
		return 1
	}
}

// flagError is a flag the command line got wrong: it is printed with one
// line on where the usage is, not with the whole usage.
type flagError struct {
	cmd string // "rollcall serve"
	err error
}

func (e flagError) Error() string { return e.cmd + ": " + e.err.Error() }
func (e flagError) Unwrap() error { return e.err }

// parseFlags parses args with fs, which prints its usage only when asked
// for it (-h); a bad flag is a flagError.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stderr)
		fs.Usage()
		return err
	case err != nil:
		return flagError{cmd: fs.Name(), err: err}
	}
	return nil
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

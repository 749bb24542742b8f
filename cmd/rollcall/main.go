// Command rollcall runs the rollcall presence server, an interactive
// terminal client, and prints its version.
//
//	rollcall serve [flags]
//	rollcall connect URL --name NAME [--info TEXT] [--channel CH] [--user USER | --token JWT]
//	rollcall hash-password < password
//	rollcall version
package main

import (
	"github.com/rollcall/rollcall/internal/bench"

	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `rollcall: a presence server speaking the sgc Presence protocol

Usage:
  rollcall serve   [flags]      run the server (rollcall serve -h for flags)
  rollcall connect URL --name NAME [--info TEXT] [--channel CH] [--base64] [--user USER | --token JWT]
                                an interactive terminal client
  rollcall bench SCENARIO [flags]
                                load and measure a server: idle, fanout, joinstorm,
                                churn (rollcall bench -h)
  rollcall hash-password        read a password on stdin, print its bcrypt hash
                                (for the users file of serve --auth basic)
  rollcall version              print the version
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
		fmt.Fprintln(stdout, "rollcall", version)
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
	case errors.As(err, new(usageError)):
		fmt.Fprintln(stderr, "rollcall:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "rollcall:", err)
		return 1
	}
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"
)

// Exit codes. 3 and 6 are Apache htpasswd's for verify.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitMismatch = 3
	exitNoUser   = 6
)

// env is what the commands touch of the outside world, so tests can drive
// them in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// isTTY tells whether there is a terminal to ask for a password:
	// stdin, or the controlling terminal when stdin is busy carrying a
	// Secret manifest (--secret -).
	isTTY        func(stdinBusy bool) bool
	readPassword func(prompt string, stdinBusy bool) ([]byte, error) // without echo
}

// exitErr carries an exit code and an optional hint line.
type exitErr struct {
	code int
	err  error
	hint string
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitErr{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func withHint(err error, hint string) error { return &exitErr{code: exitError, err: err, hint: hint} }

func run(ctx context.Context, args []string, e *env) int {
	app := newApp(e)
	err := app.Run(ctx, args)
	if err == nil {
		return exitOK
	}
	code, hint := exitError, ""
	var xe *exitErr
	if errors.As(err, &xe) {
		code, hint = xe.code, xe.hint
	}
	fmt.Fprintf(e.stderr, "htpw: %v\n", err)
	if hint != "" {
		fmt.Fprintf(e.stderr, "htpw: hint: %s\n", hint)
	}
	return code
}

func newApp(e *env) *cli.Command {
	onUsage := func(_ context.Context, _ *cli.Command, err error, _ bool) error {
		return &exitErr{code: exitUsage, err: err}
	}
	cmds := []*cli.Command{addCommand(e), passwdCommand(e), deleteCommand(e), verifyCommand(e), listCommand(e), lintCommand(e), secretCommand(e), groupCommand(e), tokenCommand(e)}
	for _, c := range cmds {
		c.OnUsageError = onUsage
	}
	return &cli.Command{
		Name:  "htpw",
		Usage: "manage htpasswd files and Kubernetes Secrets for nginx, ingress-nginx and authreq",
		Description: strings.TrimSpace(`
Passwords are read from a prompt without echo, from one line of standard
input (--stdin), or generated (--generate); never from the command line.`),
		Commands:       cmds,
		Reader:         e.stdin,
		Writer:         e.stdout,
		ErrWriter:      e.stderr,
		OnUsageError:   onUsage,
		HideVersion:    true,
		ExitErrHandler: func(context.Context, *cli.Command, error) {}, // run() reports and exits
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Present() {
				return &exitErr{code: exitUsage, err: fmt.Errorf("unknown command %q", cmd.Args().First()), hint: "htpw --help lists the commands"}
			}
			return cli.ShowRootCommandHelp(cmd)
		},
	}
}

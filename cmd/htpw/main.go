// Command htpw manages htpasswd files and the Kubernetes Secrets that hold
// them: add, change, delete, verify, list and lint users, and print or edit
// Secret manifests for ingress-nginx and authreq.
package main

import (
	"context"
	"os"

	"golang.org/x/term"
)

// terminal is where a password is asked for: stdin, or /dev/tty when stdin
// carries a manifest, so that `kubectl get secret … | htpw add --secret -
// alice | kubectl apply -f -` can still prompt.
func terminal(stdinBusy bool) (*os.File, func(), error) {
	if !stdinBusy {
		return os.Stdin, func() {}, nil
	}
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

func main() {
	e := &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
		isTTY: func(busy bool) bool {
			f, done, err := terminal(busy)
			if err != nil {
				return false
			}
			defer done()
			return term.IsTerminal(int(f.Fd()))
		},
		readPassword: func(prompt string, busy bool) ([]byte, error) {
			f, done, err := terminal(busy)
			if err != nil {
				return nil, err
			}
			defer done()
			return readPasswordTTY(f, os.Stderr, prompt)
		},
	}
	os.Exit(run(context.Background(), os.Args, e))
}

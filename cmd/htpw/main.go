// Command htpw manages htpasswd files and the Kubernetes Secrets that hold
// them: add, change, delete, verify, list and lint users, and print or edit
// Secret manifests for ingress-nginx and authreq.
package main

import (
	"context"
	"os"

	"golang.org/x/term"
)

func main() {
	e := &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
		isTTY:  func() bool { return term.IsTerminal(int(os.Stdin.Fd())) },
		readPassword: func(prompt string) ([]byte, error) {
			return readPasswordTTY(os.Stdin, os.Stderr, prompt)
		},
	}
	os.Exit(run(context.Background(), os.Args, e))
}

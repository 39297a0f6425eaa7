//go:build !linux

package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

func readPasswordTTY(in *os.File, w io.Writer, prompt string) ([]byte, error) {
	fmt.Fprint(w, prompt)
	defer fmt.Fprintln(w)
	return term.ReadPassword(int(in.Fd()))
}

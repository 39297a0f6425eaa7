package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// readPasswordTTY turns echo off before it shows the prompt, so that
// nothing typed after the prompt appears (x/term's ReadPassword prompts
// only after its caller has printed, leaving a window with echo on).
func readPasswordTTY(in *os.File, w io.Writer, prompt string) ([]byte, error) {
	fd := int(in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	t := *old
	t.Lflag &^= unix.ECHO
	t.Lflag |= unix.ICANON | unix.ISIG
	t.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprint(w, prompt)
	defer fmt.Fprintln(w)
	// One byte at a time: a buffered read could swallow the next answer.
	var line []byte
	b := make([]byte, 1)
	for len(line) <= maxPasswordLen {
		n, err := in.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return line, nil
			}
			line = append(line, b[0])
		}
		if err == io.EOF && len(line) > 0 {
			return line, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("password longer than %d bytes", maxPasswordLen)
}

package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/authreq/authreq/htpasswd"
	"github.com/urfave/cli/v3"
)

const (
	defaultGenerateLen = 20
	maxPasswordLen     = 4096
	// URL-safe and free of characters that shells, YAML or humans trip on.
	generateAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_"
)

// generateValue makes --generate work both alone and as --generate=LEN:
// the parser treats it as a boolean flag, passing "true" or the value.
type generateValue struct{ n int }

func (g *generateValue) Set(s string) error {
	switch s {
	case "true":
		g.n = defaultGenerateLen
		return nil
	case "false":
		g.n = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 8 || n > 256 {
		return fmt.Errorf("--generate=%s: length must be a number from 8 to 256", s)
	}
	g.n = n
	return nil
}
func (g *generateValue) String() string   { return strconv.Itoa(g.n) }
func (g *generateValue) Get() any         { return g.n }
func (g *generateValue) IsBoolFlag() bool { return true }

func passwordFlags(generate bool) []cli.Flag {
	flags := []cli.Flag{
		&cli.BoolFlag{Name: "stdin", Usage: "read the password from one line of standard input"},
	}
	if generate {
		flags = append(flags, &cli.GenericFlag{Name: "generate", Value: &generateValue{}, Usage: "generate a random password (of `LEN` characters, default 20) and print it once"})
	}
	return flags
}

// passwordSource says where a command's password comes from.
type passwordSource struct {
	stdin     bool
	generate  int  // length; 0 when not generating
	stdinBusy bool // stdin carries a Secret manifest: prompt on the terminal
}

func newPasswordSource(cmd *cli.Command, t *target) (passwordSource, error) {
	ps := passwordSource{stdin: cmd.Bool("stdin"), stdinBusy: t != nil && t.secretPath == "-"}
	if hasFlag(cmd, "generate") {
		ps.generate, _ = cmd.Value("generate").(int)
	}
	if ps.stdin && ps.generate > 0 {
		return ps, usageErr("give --stdin or --generate, not both")
	}
	if ps.stdin && t != nil && t.secretPath == "-" {
		return ps, withHint(errors.New("--stdin and --secret - both want standard input"), "use --generate, or pass the Secret as a file")
	}
	return ps, nil
}

// read gets the password: generated, one line of stdin, or asked twice at a
// terminal. confirm asks twice (new passwords); verify asks once.
func (ps passwordSource) read(e *env, confirm bool) ([]byte, error) {
	switch {
	case ps.generate > 0:
		return generatePassword(ps.generate), nil
	case ps.stdin:
		return readLine(e)
	}
	if !e.isTTY(ps.stdinBusy) {
		return nil, withHint(errors.New("no terminal to ask for the password"), "pass it on standard input with --stdin, or use --generate")
	}
	pw, err := e.readPassword("password: ", ps.stdinBusy)
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	if !confirm {
		return pw, nil
	}
	again, err := e.readPassword("retype password: ", ps.stdinBusy)
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	if !bytes.Equal(pw, again) {
		return nil, errors.New("passwords do not match")
	}
	return pw, nil
}

func readLine(e *env) ([]byte, error) {
	r := bufio.NewReaderSize(e.stdin, maxPasswordLen+2)
	line, err := r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, fmt.Errorf("password longer than %d bytes", maxPasswordLen)
	case err != nil && !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("reading password: %w", err)
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return bytes.Clone(line), nil
}

func generatePassword(n int) []byte {
	b := make([]byte, n)
	// Rejection sampling keeps every character equally likely.
	limit := byte(256 - 256%len(generateAlphabet))
	buf := make([]byte, 1)
	for i := 0; i < n; {
		rand.Read(buf)
		if buf[0] < limit {
			b[i] = generateAlphabet[int(buf[0])%len(generateAlphabet)]
			i++
		}
	}
	return b
}

// checkNewPassword applies the rules for passwords being set.
func checkNewPassword(pw []byte, scheme htpasswd.Scheme) error {
	if len(pw) == 0 {
		return errors.New("empty password refused")
	}
	if scheme == htpasswd.Bcrypt && len(pw) > 72 {
		return withHint(htpasswd.ErrPasswordTooLong, "use --algo sha512 for longer passwords")
	}
	return nil
}

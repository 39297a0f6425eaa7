package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/htpasswd/k8s"
	"github.com/urfave/cli/v3"
)

const defaultFile = ".htpasswd"

// Flags shared by the commands that read or edit users.
func targetFlags(withSecret bool) []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "htpasswd `FILE` (default $HTPASSWD_FILE, else ./.htpasswd)"},
	}
	if withSecret {
		flags = append(flags,
			&cli.StringFlag{Name: "secret", Usage: "edit the Kubernetes Secret manifest in `FILE` (- for stdin) instead of an htpasswd file; the result goes to stdout"},
			&cli.BoolFlag{Name: "in-place", Usage: "with --secret FILE: write the result back to FILE"},
			&cli.StringFlag{Name: "format", Usage: "Secret layout: auth-file (key \"auth\") or auth-map (a key per user); default: as found"},
		)
	}
	return flags
}

// target is where users live: an htpasswd file, or a Secret manifest.
type target struct {
	e          *env
	path       string
	secretPath string // "" for a file; "-" for stdin
	inPlace    bool
	format     k8s.SecretFormat
	secret     *k8s.Secret // loaded on first use
}

func newTarget(e *env, cmd *cli.Command) (*target, error) {
	t := &target{e: e, path: cmd.String("file")}
	if t.path == "" {
		t.path = e.getenv("HTPASSWD_FILE")
	}
	if t.path == "" {
		t.path = defaultFile
	}
	if hasFlag(cmd, "secret") {
		t.secretPath = cmd.String("secret")
		t.inPlace = cmd.Bool("in-place")
		switch f := k8s.SecretFormat(cmd.String("format")); f {
		case "", k8s.AuthFile, k8s.AuthMap:
			t.format = f
		default:
			return nil, usageErr("--format %q: want auth-file or auth-map", string(f))
		}
		if t.secretPath == "" && (t.inPlace || t.format != "") {
			return nil, usageErr("--in-place and --format need --secret")
		}
		if t.inPlace && t.secretPath == "-" {
			return nil, usageErr("--in-place needs --secret FILE, not stdin")
		}
		if t.secretPath != "" && cmd.IsSet("file") {
			return nil, usageErr("give --file or --secret, not both")
		}
	}
	return t, nil
}

func hasFlag(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

func (t *target) isSecret() bool { return t.secretPath != "" }

// name is how errors refer to the target.
func (t *target) name() string {
	switch {
	case t.secretPath == "-":
		return "secret on stdin"
	case t.secretPath != "":
		return t.secretPath
	}
	return t.path
}

func (t *target) loadSecret() (*k8s.Secret, error) {
	if t.secret != nil {
		return t.secret, nil
	}
	in := t.e.stdin
	if t.secretPath != "-" {
		f, err := os.Open(t.secretPath)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return nil, fmt.Errorf("%s: is a directory", t.secretPath)
		}
		in = f
	}
	// One byte over the limit is enough for ParseSecret to refuse it.
	data, err := io.ReadAll(io.LimitReader(in, k8s.MaxSecretSize+1))
	if err != nil {
		return nil, err
	}
	s, err := k8s.ParseSecret(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name(), err)
	}
	t.secret = s
	return s, nil
}

// read returns the current users.
func (t *target) read() (*htpasswd.File, error) {
	if !t.isSecret() {
		return htpasswd.ReadFile(t.path)
	}
	s, err := t.loadSecret()
	if err != nil {
		return nil, err
	}
	f, err := s.File(t.format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name(), err)
	}
	return f, nil
}

// noArgsTarget starts the commands that take no USER (list, lint, secret):
// the target.
func noArgsTarget(e *env, cmd *cli.Command) (*target, error) {
	if cmd.Args().Len() != 0 {
		return nil, usageErr("%s takes no arguments", cmd.Name)
	}
	return newTarget(e, cmd)
}

// readNoArgs is noArgsTarget and the target's users.
func readNoArgs(e *env, cmd *cli.Command) (*target, *htpasswd.File, error) {
	t, err := noArgsTarget(e, cmd)
	if err != nil {
		return nil, nil, err
	}
	f, err := t.read()
	return t, f, err
}

// exists reports whether the htpasswd file exists (a Secret always does).
func (t *target) exists() bool {
	if t.isSecret() {
		return true
	}
	_, err := os.Stat(t.path)
	return !errors.Is(err, fs.ErrNotExist)
}

// editedPath is the file an edit writes: the htpasswd file, the manifest
// with --in-place, or "" when the result goes to stdout.
func (t *target) editedPath() string {
	switch {
	case !t.isSecret():
		return t.path
	case t.inPlace:
		return t.secretPath
	}
	return ""
}

// checkEditable fails early, before a password prompt, for a file that
// the edit would refuse: one that is a symbolic link.
func (t *target) checkEditable() error {
	p := t.editedPath()
	if p == "" {
		return nil
	}
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return editErr(&fs.PathError{Op: "edit", Path: p, Err: htpasswd.ErrSymlink})
	}
	return nil
}

// editErr adds a hint to the errors of an edit that say what to do.
func editErr(err error) error {
	if errors.Is(err, htpasswd.ErrSymlink) {
		return withHint(err, "pass the path of the file itself (readlink -f shows where the link points), "+
			"after checking that only you and root can change the link and the directories on its way")
	}
	return err
}

// edit applies fn and saves: an htpasswd file, or a Secret manifest back
// to its file (--in-place), atomically under its lock, re-read under the
// lock (a file is created if create); a Secret otherwise to stdout. The
// file must not be a symbolic link (see htpasswd.Update).
func (t *target) edit(create bool, fn func(*htpasswd.File) error) error {
	switch {
	case !t.isSecret():
		return editErr(htpasswd.Update(t.path, create, fn))
	case t.inPlace:
		return editErr(k8s.UpdateSecretFile(t.secretPath, t.format, fn))
	}
	f, err := t.read()
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	if err := t.secret.SetFile(f, t.format); err != nil {
		return fmt.Errorf("%s: %w", t.name(), err)
	}
	out, err := t.secret.Marshal()
	if err != nil {
		return err
	}
	_, err = io.Copy(t.e.stdout, bytes.NewReader(out))
	return err
}

// secretOnStdout reports whether stdout carries the edited manifest.
func (t *target) secretOnStdout() bool { return t.isSecret() && !t.inPlace }

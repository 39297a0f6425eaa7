package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"text/tabwriter"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/htpasswd/k8s"
	"github.com/urfave/cli/v3"
)

// algorithms maps --algo names to schemes; the insecure ones need
// --insecure.
var algorithms = map[string]htpasswd.Scheme{
	"bcrypt": htpasswd.Bcrypt,
	"apr1":   htpasswd.APR1,
	"sha256": htpasswd.SHA256Crypt,
	"sha512": htpasswd.SHA512Crypt,
	"sha1":   htpasswd.SHA1,
	"plain":  htpasswd.Plain,
}

func hashFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "algo", Value: "bcrypt", Usage: "hash `ALGO`: bcrypt, apr1, sha256, sha512 (sha1 and plain need --insecure)"},
		&cli.IntFlag{Name: "cost", Usage: "bcrypt cost (4-31, default 10) or sha256/sha512 rounds (default 5000)"},
		&cli.BoolFlag{Name: "insecure", Usage: "allow --algo sha1 or plain, which anyone who reads the file can reverse or brute-force"},
	}
}

// userTarget starts the commands that take one USER (add, passwd, delete,
// verify): the user name, checked, and where the users live.
func userTarget(e *env, cmd *cli.Command) (string, *target, error) {
	if cmd.Args().Len() != 1 {
		return "", nil, usageErr("%s: want exactly one USER argument (the password is never an argument)", cmd.Name)
	}
	user := cmd.Args().First()
	if err := htpasswd.ValidateUser(user); err != nil {
		return "", nil, &exitErr{code: exitUsage, err: fmt.Errorf("user %q: %w", user, err)}
	}
	t, err := newTarget(e, cmd)
	return user, t, err
}

func flagsOf(groups ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func addCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "add",
		Usage:     "add a user (creating the file if needed)",
		ArgsUsage: "USER",
		Flags:     flagsOf(targetFlags(true), hashFlags(), passwordFlags(true)),
		Action:    func(ctx context.Context, cmd *cli.Command) error { return setPassword(e, cmd, true) },
	}
}

func passwdCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "passwd",
		Usage:     "change a user's password",
		ArgsUsage: "USER",
		Flags:     flagsOf(targetFlags(true), hashFlags(), passwordFlags(true)),
		Action:    func(ctx context.Context, cmd *cli.Command) error { return setPassword(e, cmd, false) },
	}
}

func setPassword(e *env, cmd *cli.Command, add bool) error {
	user, t, err := userTarget(e, cmd)
	if err != nil {
		return err
	}
	scheme, ok := algorithms[cmd.String("algo")]
	if !ok {
		return usageErr("--algo %q: want bcrypt, apr1, sha256 or sha512", cmd.String("algo"))
	}
	if (scheme == htpasswd.SHA1 || scheme == htpasswd.Plain) && !cmd.Bool("insecure") {
		return &exitErr{code: exitUsage, err: fmt.Errorf("--algo %s is insecure", cmd.String("algo")), hint: "add --insecure if a legacy reader needs it; bcrypt is the safe default"}
	}
	ps, err := newPasswordSource(cmd, t)
	if err != nil {
		return err
	}
	if err := t.checkEditable(); err != nil {
		return err
	}
	// Check before asking for a password, and again under the lock.
	check := func(f *htpasswd.File) error {
		_, exists := f.Lookup(user)
		switch {
		case add && exists:
			return withHint(fmt.Errorf("user %q already exists in %s", user, t.name()), "use `htpw passwd` to change the password")
		case !add && !exists:
			return &exitErr{code: exitNoUser, err: fmt.Errorf("user %q not found in %s", user, t.name()), hint: "use `htpw add` to add a user"}
		}
		return nil
	}
	if !add || t.exists() { // add creates a missing file
		f, err := t.read()
		if err != nil {
			return err
		}
		if err := check(f); err != nil {
			return err
		}
	}
	pw, err := ps.read(e, true)
	if err != nil {
		return err
	}
	if err := checkNewPassword(pw, scheme); err != nil {
		return err
	}
	hash, err := htpasswd.Generate(scheme, pw, int(cmd.Int("cost")))
	if err != nil {
		return err
	}
	err = t.edit(add, func(f *htpasswd.File) error {
		if err := check(f); err != nil {
			return err
		}
		_, err := f.Set(user, hash)
		return err
	})
	if err != nil {
		return err
	}
	if ps.generate > 0 {
		// The password is shown once; with a manifest on stdout it goes
		// to stderr so that the pipe to kubectl stays valid YAML.
		out := e.stdout
		if t.secretOnStdout() {
			out = e.stderr
			fmt.Fprintf(out, "generated password for %s: ", user)
		}
		fmt.Fprintf(out, "%s\n", pw)
	}
	return nil
}

func deleteCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete a user",
		ArgsUsage: "USER",
		Flags:     targetFlags(true),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			user, t, err := userTarget(e, cmd)
			if err != nil {
				return err
			}
			return t.edit(false, func(f *htpasswd.File) error {
				if !f.Delete(user) {
					return &exitErr{code: exitNoUser, err: fmt.Errorf("user %q not found in %s", user, t.name())}
				}
				return nil
			})
		},
	}
}

func verifyCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check a user's password: exit 0 match, 3 mismatch, 6 no such user",
		ArgsUsage: "USER",
		Flags:     flagsOf(targetFlags(true), passwordFlags(false)),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			user, t, err := userTarget(e, cmd)
			if err != nil {
				return err
			}
			ps, err := newPasswordSource(cmd, t)
			if err != nil {
				return err
			}
			f, err := t.read()
			if err != nil {
				return err
			}
			entry, ok := f.Lookup(user)
			if !ok {
				return &exitErr{code: exitNoUser, err: fmt.Errorf("user %q not found in %s", user, t.name())}
			}
			pw, err := ps.read(e, false)
			if err != nil {
				return err
			}
			if entry.Parsed == nil {
				return &exitErr{code: exitMismatch, err: fmt.Errorf("user %q: line %d: %v: this user can never log in", user, entry.Line, entry.HashErr)}
			}
			if !entry.Parsed.Verify(pw) {
				return &exitErr{code: exitMismatch, err: fmt.Errorf("password for user %q does not match", user)}
			}
			fmt.Fprintf(e.stderr, "password for user %s is correct\n", user)
			return nil
		},
	}
}

type listEntry struct {
	User    string `json:"user"`
	Scheme  string `json:"scheme"`
	Line    int    `json:"line"`
	Usable  bool   `json:"usable"`
	Problem string `json:"problem,omitempty"`
}

func listCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list users and their hash scheme (never the hash)",
		Flags: flagsOf(targetFlags(true), []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}}),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			_, f, err := readNoArgs(e, cmd)
			if err != nil {
				return err
			}
			list := []listEntry{}
			for _, en := range f.Entries() {
				le := listEntry{User: en.User, Scheme: string(en.Scheme()), Line: en.Line, Usable: en.Parsed != nil}
				if en.HashErr != nil {
					le.Problem = en.HashErr.Error()
				}
				list = append(list, le)
			}
			if cmd.Bool("json") {
				out, err := json.MarshalIndent(list, "", "  ")
				if err != nil {
					return err
				}
				_, err = e.stdout.Write(append(escapeUnprintable(out), '\n'))
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tSCHEME\tLINE\tNOTE")
			for _, le := range list {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", shownUser(le.User), le.Scheme, le.Line, le.Problem)
			}
			return tw.Flush()
		},
	}
}

// shownUser is a user name as list prints it: as it is, or quoted, as
// lint quotes every name, when it holds what a terminal would not show as
// itself (bidi and other format characters that reorder or hide text,
// non-breaking spaces; control characters are no valid name) or a quote.
func shownUser(u string) string {
	if q := strconv.Quote(u); q[1:len(q)-1] != u {
		return q
	}
	return u
}

// escapeUnprintable writes the non-ASCII characters of JSON text that are
// not printable (bidi controls among them) as \u escapes: the same JSON
// value, but inert on a terminal. encoding/json escapes ASCII controls
// only. Non-ASCII bytes occur only inside JSON strings.
func escapeUnprintable(js []byte) []byte {
	var b bytes.Buffer
	for _, r := range string(js) {
		if r < utf8.RuneSelf || unicode.IsPrint(r) {
			b.WriteRune(r)
			continue
		}
		if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, "\\u%04x\\u%04x", r1, r2)
			continue
		}
		fmt.Fprintf(&b, "\\u%04x", r)
	}
	return b.Bytes()
}

func lintCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "lint",
		Usage: "report malformed lines, unusable hashes, duplicate users and weak schemes; exit 1 on any",
		Flags: targetFlags(false),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			t, err := noArgsTarget(e, cmd)
			if err != nil {
				return err
			}
			users, problems, err := htpasswd.LintFile(t.path)
			if err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Fprintf(e.stdout, "%s:%d: %s: %s\n", t.name(), p.Line, p.Kind, p.Msg)
			}
			if len(problems) > 0 {
				return fmt.Errorf("%s: %d problem(s)", t.name(), len(problems))
			}
			fmt.Fprintf(e.stderr, "%s: %d users, no problems\n", t.name(), users)
			return nil
		},
	}
}

func secretCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "secret",
		Usage: "print a Kubernetes Secret manifest holding the htpasswd file (for ingress-nginx auth-secret or authreq)",
		Flags: flagsOf(targetFlags(false), []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "Secret `NAME`", Required: true},
			&cli.StringFlag{Name: "namespace", Usage: "Secret `NAMESPACE`"},
			&cli.StringFlag{Name: "format", Value: string(k8s.AuthFile), Usage: "auth-file (key \"auth\") or auth-map (a key per user)"},
		}),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			format := k8s.SecretFormat(cmd.String("format"))
			if format != k8s.AuthFile && format != k8s.AuthMap {
				return usageErr("--format %q: want auth-file or auth-map", string(format))
			}
			_, f, err := readNoArgs(e, cmd)
			if errors.Is(err, fs.ErrNotExist) {
				return withHint(err, "create it with `htpw add -f FILE USER`")
			} else if err != nil {
				return err
			}
			s, err := k8s.NewSecret(cmd.String("name"), cmd.String("namespace"), f, format)
			if err != nil {
				return err
			}
			out, err := s.Marshal()
			if err != nil {
				return err
			}
			_, err = e.stdout.Write(out)
			return err
		},
	}
}

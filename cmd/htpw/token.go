package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authreq/authreq/authreq/tokens"
	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/htpasswd/k8s"
	"github.com/urfave/cli/v3"
)

const defaultTokenFile = "tokens"

// tokenCommand creates, lists and revokes authreq's API tokens.
func tokenCommand(e *env) *cli.Command {
	file := &cli.StringFlag{Name: "file", Aliases: []string{"t"}, Usage: "token `FILE` (default $AUTHREQ_TOKENS_FILE, else ./tokens)"}
	path := func(cmd *cli.Command) string {
		if p := cmd.String("file"); p != "" {
			return p
		}
		if p := e.getenv("AUTHREQ_TOKENS_FILE"); p != "" {
			return p
		}
		return defaultTokenFile
	}
	secretFlags := secretKeyFlags(k8s.TokensKey)
	secret := func(cmd *cli.Command) (*target, error) { return secretKeyTarget(e, cmd) }
	// edit applies fn to the token file's bytes: the file, under its lock;
	// the Secret's "tokens" key in place; or the Secret on stdin, the
	// edited manifest on stdout. It tells where the result went.
	edit := func(cmd *cli.Command, create bool, fn func([]byte) ([]byte, error)) (string, error) {
		t, err := secret(cmd)
		if err != nil {
			return "", err
		}
		switch {
		case !t.isSecret():
			p := path(cmd)
			return p, editErr(htpasswd.UpdateFile(p, create, tokens.MaxFileSize, fn))
		case t.inPlace:
			return t.secretPath, editErr(k8s.UpdateSecretData(t.secretPath, k8s.TokensKey, fn))
		}
		sec, err := t.loadSecret()
		if err != nil {
			return "", err
		}
		data, _, err := sec.Data(k8s.TokensKey)
		if err != nil {
			return "", fmt.Errorf("%s: %w", t.name(), err)
		}
		out, err := fn(data)
		if err != nil {
			return "", err
		}
		if err := sec.SetData(k8s.TokensKey, out); err != nil {
			return "", fmt.Errorf("%s: %w", t.name(), err)
		}
		m, err := sec.Marshal()
		if err != nil {
			return "", err
		}
		_, err = e.stdout.Write(m)
		return "stdout", err
	}
	create := &cli.Command{
		Name:      "create",
		Usage:     "create a token for USER and print it, once",
		ArgsUsage: "USER",
		Flags: append([]cli.Flag{file,
			&cli.StringFlag{Name: "level", Value: "READ", Usage: "the highest `LEVEL` the token allows: READ, USE, EDIT or MANAGE"},
			&cli.StringFlag{Name: "expires", Value: "90d", Usage: "lifetime: `Nd`, a Go duration (12h) or never"},
			&cli.StringFlag{Name: "name", Usage: "a `NAME` to recognise the token by in list"},
		}, secretFlags...),
		Action: func(_ context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return usageErr("token create: want exactly one USER argument")
			}
			user := cmd.Args().First()
			if err := htpasswd.ValidateUser(user); err != nil {
				return usageErr("user %q: %v", user, err)
			}
			level := cmd.String("level")
			if !tokens.ValidLevel(level) {
				return usageErr("--level %q: want READ, USE, EDIT or MANAGE", level)
			}
			if err := tokens.ValidName(cmd.String("name")); err != nil {
				return usageErr("--%v", err)
			}
			now := time.Now()
			var exp time.Time
			if s := cmd.String("expires"); s != "never" {
				d, err := lifetime(s)
				if err != nil {
					return usageErr("--expires %q: %v", s, err)
				}
				exp = now.Add(d)
			}
			tok, tk, err := tokens.New(user, level, cmd.String("name"), now, exp)
			if err != nil {
				return err
			}
			where, err := edit(cmd, true, func(data []byte) ([]byte, error) {
				f, err := tokens.Parse(bytes.NewReader(data))
				if err != nil {
					return nil, err
				}
				if err := f.Add(tk); err != nil {
					return nil, err
				}
				return f.Bytes(), nil
			})
			if err != nil {
				return err
			}
			if where == "stdout" {
				// stdout carries the manifest: the token goes to stderr.
				fmt.Fprintf(e.stderr, "htpw: token %s for %s (shown only this once): %s\n", tk.ID, user, tok)
				return nil
			}
			fmt.Fprintln(e.stdout, tok)
			fmt.Fprintf(e.stderr, "htpw: token %s for %s written to %s; it is shown only this once\n", tk.ID, user, where)
			return nil
		},
	}
	list := &cli.Command{
		Name:  "list",
		Usage: "list tokens: id, user, name, level, created, expires (never the token or its hash)",
		Flags: append([]cli.Flag{file, &cli.BoolFlag{Name: "json", Usage: "one JSON array"}}, secretFlags...),
		Action: func(_ context.Context, cmd *cli.Command) error {
			if cmd.Args().Present() {
				return usageErr("token list takes no arguments")
			}
			t, err := secret(cmd)
			if err != nil {
				return err
			}
			var f *tokens.File
			if t.isSecret() {
				sec, err := t.loadSecret()
				if err != nil {
					return err
				}
				data, _, err := sec.Data(k8s.TokensKey)
				if err == nil {
					f, err = tokens.Parse(bytes.NewReader(data))
				}
				if err != nil {
					return fmt.Errorf("%s: %w", t.name(), err)
				}
			} else if f, err = tokens.ReadFile(path(cmd)); err != nil {
				return err
			}
			type row struct {
				ID      string `json:"id"`
				User    string `json:"user"`
				Name    string `json:"name"`
				Level   string `json:"level"`
				Created string `json:"created"`
				Expires string `json:"expires"`
			}
			rows := []row{}
			for _, t := range f.Tokens() {
				exp := "never"
				if !t.Expires.IsZero() {
					exp = t.Expires.Format(time.RFC3339)
				}
				rows = append(rows, row{t.ID, t.User, t.Name, t.Level, t.Created.Format(time.RFC3339), exp})
			}
			if cmd.Bool("json") {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSER\tLEVEL\tCREATED\tEXPIRES\tNAME")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.User, r.Level, r.Created, r.Expires, r.Name)
			}
			return tw.Flush()
		},
	}
	revoke := &cli.Command{
		Name:      "revoke",
		Usage:     "delete the token with ID (every line whose first field is ID, even in a file with bad lines)",
		ArgsUsage: "ID",
		Flags:     append([]cli.Flag{file}, secretFlags...),
		Action: func(_ context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return usageErr("token revoke: want exactly one ID argument")
			}
			id := cmd.Args().First()
			p := path(cmd)
			if t, err := secret(cmd); err != nil {
				return err
			} else if t.isSecret() {
				p = t.name()
			}
			// Lenient: a leaked token must be revocable whatever else the
			// file holds. Every line whose first field is id goes, parsed
			// or not; the bad lines stay as they are, named by number only.
			var bad []*tokens.ParseError
			_, err := edit(cmd, false, func(data []byte) ([]byte, error) {
				f, b, err := tokens.ParseLenient(bytes.NewReader(data))
				if err != nil {
					return nil, fmt.Errorf("%s: %w", p, err)
				}
				lines := strings.Split(string(data), "\n")
				bad = bad[:0]
				for _, pe := range b {
					if first, _, _ := strings.Cut(lines[pe.Line-1], ":"); first != id {
						bad = append(bad, pe) // stays in the file
					}
				}
				if f.RemoveLines(id) == 0 {
					return nil, &exitErr{code: exitNoUser, err: fmt.Errorf("no token %s in %s", strconv.Quote(id), p), hint: "htpw token list shows the ids"}
				}
				return f.Bytes(), nil
			})
			if len(bad) > 0 {
				nums := make([]string, len(bad))
				for i, b := range bad {
					nums[i] = strconv.Itoa(b.Line)
				}
				what := "line " + nums[0] + " is not a valid token line"
				if len(nums) > 1 {
					what = "lines " + strings.Join(nums, ", ") + " are not valid token lines"
				}
				fmt.Fprintf(e.stderr, "htpw: warning: %s: %s; left as they are (the service skips them)\n", p, what)
			}
			if errors.Is(err, fs.ErrNotExist) {
				return &exitErr{code: exitNoUser, err: err}
			}
			return err
		},
	}
	cmds := []*cli.Command{create, list, revoke}
	for _, c := range cmds {
		c.OnUsageError = func(_ context.Context, _ *cli.Command, err error, _ bool) error {
			return &exitErr{code: exitUsage, err: err}
		}
	}
	return &cli.Command{
		Name:     "token",
		Usage:    "create, list and revoke authreq API tokens",
		Commands: cmds,
	}
}

// lifetime reads --expires: Nd (days) or a Go duration; positive.
func lifetime(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 36500 {
			return 0, errors.New("want Nd with N from 1 to 36500, a Go duration or never")
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			return 0, errors.New("want Nd, a positive Go duration (12h) or never")
		}
	}
	return d, nil
}

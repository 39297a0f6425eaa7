package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/htpasswd/k8s"
	"github.com/urfave/cli/v3"
)

const defaultGroupFile = ".htgroup"

// groupCommand edits and lists group files (Apache's AuthGroupFile format,
// read by authreq's htpasswd.groupFiles).
func groupCommand(e *env) *cli.Command {
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "file", Aliases: []string{"g"}, Usage: "group `FILE` (default $HTGROUP_FILE, else ./.htgroup)"},
	}, secretKeyFlags("groups")...)
	secret := func(cmd *cli.Command) (*target, error) { return secretKeyTarget(e, cmd) }
	path := func(cmd *cli.Command) string {
		if p := cmd.String("file"); p != "" {
			return p
		}
		if p := e.getenv("HTGROUP_FILE"); p != "" {
			return p
		}
		return defaultGroupFile
	}
	edit := func(add bool) cli.ActionFunc {
		return func(_ context.Context, cmd *cli.Command) error {
			args := cmd.Args().Slice()
			if len(args) < 2 {
				return usageErr("need GROUP and at least one USER")
			}
			group, users := args[0], args[1:]
			if err := htpasswd.ValidateGroup(group); err != nil {
				return usageErr("%q: %v", group, err)
			}
			t, err := secret(cmd)
			if err != nil {
				return err
			}
			fn := func(g *htpasswd.Groups) error {
				for _, u := range users {
					if add {
						if _, err := g.Add(group, u); err != nil {
							return fmt.Errorf("%q: %w", u, err)
						}
					} else {
						g.Remove(group, u)
					}
				}
				return nil
			}
			switch {
			case !t.isSecret():
				return editErr(htpasswd.UpdateGroups(path(cmd), add, fn))
			case t.inPlace:
				return editErr(k8s.UpdateSecretGroups(t.secretPath, fn))
			}
			sec, err := t.loadSecret()
			if err != nil {
				return err
			}
			g, err := sec.Groups()
			if err == nil {
				err = fn(g)
			}
			if err == nil {
				err = sec.SetGroups(g)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", t.name(), err)
			}
			out, err := sec.Marshal()
			if err != nil {
				return err
			}
			_, err = e.stdout.Write(out)
			return err
		}
	}
	return &cli.Command{
		Name:  "group",
		Usage: "edit and list group files (group: user1 user2), for authreq's htpasswd.groupFiles",
		Commands: []*cli.Command{
			{Name: "add", Usage: "put users in a group (creates the file, mode 0640)", ArgsUsage: "GROUP USER...", Flags: flags, Action: edit(true)},
			{Name: "remove", Usage: "take users out of a group", ArgsUsage: "GROUP USER...", Flags: flags, Action: edit(false)},
			{
				Name: "list", Usage: "groups and their members", Flags: append(slices.Clone(flags), &cli.BoolFlag{Name: "json", Usage: "JSON output"}),
				Action: func(_ context.Context, cmd *cli.Command) error {
					if cmd.Args().Present() {
						return usageErr("list takes no arguments")
					}
					t, err := secret(cmd)
					if err != nil {
						return err
					}
					var g *htpasswd.Groups
					if t.isSecret() {
						sec, lerr := t.loadSecret()
						if lerr != nil {
							return lerr
						}
						if g, err = sec.Groups(); err != nil {
							return fmt.Errorf("%s: %w", t.name(), err)
						}
					} else if g, err = htpasswd.ReadGroupsFile(path(cmd)); err != nil {
						return err
					}
					m := g.Members()
					if cmd.Bool("json") {
						out, err := json.MarshalIndent(m, "", "  ")
						if err != nil {
							return err
						}
						_, err = e.stdout.Write(append(escapeUnprintable(out), '\n'))
						return err
					}
					names := make([]string, 0, len(m))
					for n := range m {
						names = append(names, n)
					}
					slices.Sort(names)
					for _, n := range names {
						fmt.Fprintf(e.stdout, "%s:", shownUser(n))
						for _, u := range m[n] {
							fmt.Fprintf(e.stdout, " %s", shownUser(u))
						}
						fmt.Fprintln(e.stdout)
					}
					return nil
				},
			},
		},
	}
}

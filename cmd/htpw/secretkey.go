package main

import "github.com/urfave/cli/v3"

// secretKeyFlags are --secret and --in-place for the commands that keep a
// file of their own in one key of an auth-file Secret ("groups", "tokens").
func secretKeyFlags(key string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "secret", Usage: "the \"" + key + "\" key of the auth-file Secret manifest in `FILE` (- for stdin) instead of a file; the manifest goes to stdout"},
		&cli.BoolFlag{Name: "in-place", Usage: "with --secret FILE: write the result back to FILE"},
	}
}

// secretKeyTarget reads those flags: a target that is a Secret, or none
// (isSecret false) for the command's own file.
func secretKeyTarget(e *env, cmd *cli.Command) (*target, error) {
	t := &target{e: e, secretPath: cmd.String("secret"), inPlace: cmd.Bool("in-place")}
	switch {
	case t.secretPath == "" && t.inPlace:
		return nil, usageErr("--in-place needs --secret")
	case t.inPlace && t.secretPath == "-":
		return nil, usageErr("--in-place needs --secret FILE, not stdin")
	case t.secretPath != "" && cmd.IsSet("file"):
		return nil, usageErr("give --file or --secret, not both")
	}
	return t, nil
}

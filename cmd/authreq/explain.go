package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/authreq/authreq/authreq"
	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/authreq/policy"
	"github.com/authreq/authreq/authreq/request"
)

// explain prints what the policy of a config file decides for a request,
// and why, without serving: exit 0 allowed, 3 forbidden, 1 a config error,
// 2 a usage error.
func explain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("authreq explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", getenv("AUTHREQ_CONFIG"), "config file (env AUTHREQ_CONFIG)")
	user := fs.String("user", "", "the user, as X-User would name it")
	groups := fs.String("groups", "", "the user's groups, comma-separated")
	role := fs.String("role", "", "the user's role (admin, user)")
	host := fs.String("host", "", "the request's host")
	workspace := fs.String("workspace", "default", "the MLflow workspace (X-MLFLOW-WORKSPACE)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: authreq explain --config FILE [--user U] [--groups a,b] [--role R] [--host H] [--workspace W] METHOD URI")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	if fs.NArg() != 2 || *config == "" {
		fs.Usage()
		return 2
	}
	cfg, err := authreq.LoadConfig(*config)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "authreq: %v\n", err)
		return 1
	}
	p, err := policy.New(cfg.Policy)
	if err != nil {
		fmt.Fprintf(stderr, "authreq: %v\n", err)
		return 1
	}
	req := policy.Request{Original: request.Original{Method: strings.ToUpper(fs.Arg(0)), URI: fs.Arg(1), Host: *host}, Workspace: *workspace}
	if p.Public(req) {
		fmt.Fprintf(stdout, "allow: public, no credentials needed\n")
		return 0
	}
	id := identity.Identity{User: *user, Role: *role}
	if *groups != "" {
		id.Groups = strings.Split(*groups, ",")
	}
	d := p.Decide(id, req)
	switch {
	case !d.Allow:
		fmt.Fprintf(stdout, "forbidden (403): %s\n", d.Reason)
		return 3
	case d.Admin:
		fmt.Fprintf(stdout, "allow (X-Role: admin): %s\n", d.Reason)
	default:
		fmt.Fprintf(stdout, "allow: %s\n", d.Reason)
	}
	return 0
}

// Command authreq answers nginx auth_request subrequests (and ingress-nginx
// auth-url, Envoy ext_authz, Traefik ForwardAuth, Caddy forward_auth) from
// htpasswd files and LDAP. See the README for the configuration.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	os.Exit(run(ctx, os.Args[1:], os.Getenv, hup, os.Stdout, os.Stderr))
}

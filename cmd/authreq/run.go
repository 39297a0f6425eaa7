package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/authreq/authreq/authreq"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// options are the flags; each overrides its AUTHREQ_* variable, which
// overrides the config file, which overrides the defaults.
type options struct {
	config, listen, metricsListen, realm, cacheTTL, logLevel, logFormat string
	htpasswd                                                            stringList
}

func parseFlags(name string, args []string, stderr io.Writer) (*options, *flag.FlagSet, error) {
	o := &options{}
	fset := flag.NewFlagSet(name, flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.StringVar(&o.config, "config", "", "YAML config `file` (env AUTHREQ_CONFIG)")
	fset.StringVar(&o.listen, "listen", "", "listen `address`: host:port or unix:/path (env AUTHREQ_LISTEN; default 127.0.0.1:9091)")
	fset.StringVar(&o.metricsListen, "metrics-listen", "", "separate `address` for /metrics (env AUTHREQ_METRICS_LISTEN)")
	fset.Var(&o.htpasswd, "htpasswd", "htpasswd `file`; repeat for several (env AUTHREQ_HTPASSWD, comma-separated)")
	fset.StringVar(&o.realm, "realm", "", "Basic auth realm (env AUTHREQ_REALM)")
	fset.StringVar(&o.cacheTTL, "cache-ttl", "", "how long a verified password is cached, e.g. 5m; 0 disables (env AUTHREQ_CACHE_TTL)")
	fset.StringVar(&o.logLevel, "log-level", "", "debug, info, warn or error (env AUTHREQ_LOG_LEVEL; default info)")
	fset.StringVar(&o.logFormat, "log-format", "", "json or text (env AUTHREQ_LOG_FORMAT; default json)")
	return o, fset, fset.Parse(args)
}

// loadConfig applies defaults, file, environment and flags, then validates.
func loadConfig(o *options, getenv func(string) string) (*authreq.Config, error) {
	pick := func(flagVal, env string) string {
		if flagVal != "" {
			return flagVal
		}
		return getenv(env)
	}
	cfg := authreq.DefaultConfig()
	if path := pick(o.config, "AUTHREQ_CONFIG"); path != "" {
		c, err := authreq.LoadConfig(path)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	if v := pick(o.listen, "AUTHREQ_LISTEN"); v != "" {
		cfg.Listen = v
	}
	if v := pick(o.metricsListen, "AUTHREQ_METRICS_LISTEN"); v != "" {
		cfg.MetricsListen = v
	}
	if v := pick(o.realm, "AUTHREQ_REALM"); v != "" {
		cfg.Realm = v
	}
	if len(o.htpasswd) > 0 {
		cfg.Htpasswd.Files = o.htpasswd
	} else if v := getenv("AUTHREQ_HTPASSWD"); v != "" {
		cfg.Htpasswd.Files = strings.Split(v, ",")
	}
	if v := pick(o.cacheTTL, "AUTHREQ_CACHE_TTL"); v != "" {
		if err := cfg.Cache.TTL.Set(v); err != nil {
			return nil, fmt.Errorf("cache.ttl: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func newLogger(o *options, getenv func(string) string, w io.Writer) (*slog.Logger, error) {
	level, format := o.logLevel, o.logFormat
	if level == "" {
		level = getenv("AUTHREQ_LOG_LEVEL")
	}
	if format == "" {
		format = getenv("AUTHREQ_LOG_FORMAT")
	}
	var lv slog.Level
	if level != "" {
		if err := lv.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
		}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "", "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want json or text", format)
}

// run is main without the process: tests drive it directly.
func run(ctx context.Context, args []string, getenv func(string) string, hup <-chan os.Signal, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "authreq: %v\n", err)
		return 1
	}
	if len(args) > 0 && args[0] == "explain" {
		return explain(args[1:], getenv, stdout, stderr)
	}
	check := len(args) > 0 && args[0] == "check-config"
	if check {
		args = args[1:]
	}
	o, _, err := parseFlags("authreq", args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	cfg, err := loadConfig(o, getenv)
	if err != nil {
		return fail(err)
	}
	if check {
		fmt.Fprintln(stdout, "config ok")
		return 0
	}
	log, err := newLogger(o, getenv, stderr)
	if err != nil {
		return fail(err)
	}
	srv, err := authreq.New(cfg, log)
	if err != nil {
		return fail(err)
	}
	defer srv.Close()

	servers := []*http.Server{newHTTPServer(srv)}
	addrs := []string{cfg.Listen}
	if cfg.MetricsListen != "" {
		servers = append(servers, newHTTPServer(srv.MetricsHandler()))
		addrs = append(addrs, cfg.MetricsListen)
	}
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		l, err := listen(addrs[i])
		if err != nil {
			return fail(err)
		}
		log.Info("listening", "address", addrs[i], "htpasswd", cfg.Htpasswd.Files, "ldap", cfg.LDAP.Enabled)
		go func() { errc <- hs.Serve(l) }()
	}
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: reloading")
			srv.Reload()
		case err := <-errc:
			return fail(err)
		case <-ctx.Done():
			log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, hs := range servers {
				if err := hs.Shutdown(sctx); err != nil {
					hs.Close()
				}
			}
			return 0
		}
	}
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// listen opens host:port, or unix:/path with mode 0660 (nginx's group
// connects; nobody else), replacing a stale socket but nothing else.
func listen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("listen %s: exists and is not a socket", path)
		}
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

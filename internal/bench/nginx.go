package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Servers are the nginx server blocks of the bench, one port each.
const (
	NoAuth      = "noauth"       // proxy_pass, nothing else
	Always200   = "always200"    // auth_request to a backend that says yes
	Floor       = "floor"        // auth_request to a location answering 200 itself
	Authreq     = "authreq"      // authreq-location.conf: htpasswd and tokens
	LDAP        = "ldap"         // the same, to the LDAP-only authreq
	Cold        = "cold"         // the same, to an authreq without its cache
	ColdRedis   = "cold-redis"   // the same, its throttle state on Redis
	Cached      = "cached"       // authreq-location-cached.conf: the micro-cache
	BasicAPR1   = "basic-apr1"   // nginx auth_basic, apr1 hashes
	BasicBcrypt = "basic-bcrypt" // nginx auth_basic, bcrypt hashes
	Flood       = "flood"        // authreq-location.conf, client address from X-Forwarded-For
)

// Servers lists them in table order.
var Servers = []string{NoAuth, Always200, Floor, Authreq, LDAP, Cold, ColdRedis, Cached, BasicAPR1, BasicBcrypt, Flood}

// NginxSetup is what the bench nginx is built from.
type NginxSetup struct {
	Prefix   string         // nginx's prefix: config, logs, temp files
	CacheDir string         // the micro-cache's directory; "": under the prefix
	Snippets string         // the repository's nginx/ directory
	Ports    map[string]int // server → port on 127.0.0.1
	// Addresses (host:port) of the upstream application, the always-200
	// backend and the three authreq instances.
	App, Always200, Authreq, LDAP, Cold, ColdRedis string
	APR1File, BcryptFile                           string // htpasswd files for auth_basic
	Root                                           bool   // running as root: workers run as root too
}

// WriteConfig writes nginx.conf (and the snippet copies it includes) under
// the prefix and returns its path. The shipped snippets are used as they
// are, but for the upstream's name and address and the cache's directory:
// what is measured is what the README tells people to install.
func (s NginxSetup) WriteConfig() (string, error) {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(s.Snippets, name))
		return string(b), err
	}
	write := func(name, text string) (string, error) {
		p := filepath.Join(s.Prefix, name)
		return p, os.WriteFile(p, []byte(text), 0o644)
	}
	replace := func(what, text, old, new string) (string, error) {
		if !strings.Contains(text, old) {
			return "", fmt.Errorf("bench: %s no longer contains %q", what, old)
		}
		return strings.Replace(text, old, new, 1), nil
	}
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(s.Prefix, d), 0o755); err != nil {
			return "", err
		}
	}
	upstream, err := read("authreq-upstream.conf")
	if err != nil {
		return "", err
	}
	location, err := read("authreq-location.conf")
	if err != nil {
		return "", err
	}
	zone, err := read("authreq-cache-zone.conf")
	if err != nil {
		return "", err
	}
	cache := s.CacheDir
	if cache == "" {
		cache = filepath.Join(s.Prefix, "cache")
	}
	zone, err = replace("authreq-cache-zone.conf", zone, "proxy_cache_path /var/cache/nginx/authreq ", "proxy_cache_path "+cache+" ")
	if err != nil {
		return "", err
	}
	var http bytes.Buffer
	// One copy of authreq-upstream.conf and authreq-location.conf per
	// backend, under the backend's name.
	backends := map[string]string{"authreq": s.Authreq, "authreq_ldap": s.LDAP, "authreq_cold": s.Cold, "authreq_cold_redis": s.ColdRedis, "always200": s.Always200}
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	locations := map[string]string{}
	for _, name := range names {
		u, err := replace("authreq-upstream.conf", upstream, "upstream authreq {", "upstream "+name+" {")
		if err == nil {
			u, err = replace("authreq-upstream.conf", u, "127.0.0.1:9091", backends[name])
		}
		if err != nil {
			return "", err
		}
		p, err := write("upstream-"+name+".conf", u)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&http, "  include %s;\n", p)
		l, err := replace("authreq-location.conf", location, "proxy_pass http://authreq/auth;", "proxy_pass http://"+name+"/auth;")
		if err != nil {
			return "", err
		}
		if locations[name], err = write("location-"+name+".conf", l); err != nil {
			return "", err
		}
	}
	zonePath, err := write("cache-zone.conf", zone)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&http, "  include %s;\n", zonePath)
	fmt.Fprintf(&http, "  upstream app {\n    server %s;\n    keepalive 64;\n  }\n", s.App)

	protect := filepath.Join(s.Snippets, "authreq-protect.conf")
	// protect's proxy_set_header lines replace inherited ones: keepalive
	// to the app needs its Connection line here too.
	const toApp = "proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_pass http://app;"
	for _, srv := range Servers {
		port, ok := s.Ports[srv]
		if !ok {
			return "", fmt.Errorf("bench: no port for server %s", srv)
		}
		fmt.Fprintf(&http, "\n  # %s\n  server {\n    listen 127.0.0.1:%d;\n", srv, port)
		var body string
		switch srv {
		case NoAuth:
			body = "    location / { " + toApp + " }\n"
		case Always200, Authreq, LDAP, Cold, ColdRedis:
			up := map[string]string{Always200: "always200", Authreq: "authreq", LDAP: "authreq_ldap", Cold: "authreq_cold", ColdRedis: "authreq_cold_redis"}[srv]
			body = fmt.Sprintf("    include %s;\n    location / { include %s; %s }\n", locations[up], protect, toApp)
		case Floor:
			// The least any auth_request can cost: nginx answers its own
			// subrequest, with no upstream and no cache.
			body = fmt.Sprintf("    location = /_authreq { internal; return 200; }\n    location / { include %s; %s }\n", protect, toApp)
		case Cached:
			body = fmt.Sprintf("    include %s;\n    location / { include %s; %s }\n",
				filepath.Join(s.Snippets, "authreq-location-cached.conf"), protect, toApp)
		case BasicAPR1, BasicBcrypt:
			file := map[string]string{BasicAPR1: s.APR1File, BasicBcrypt: s.BcryptFile}[srv]
			body = fmt.Sprintf("    location / { auth_basic \"bench\"; auth_basic_user_file %s; %s }\n", file, toApp)
		case Flood:
			// The flood's client addresses come in X-Forwarded-For from the
			// load generator on 127.0.0.1; nginx makes them $remote_addr,
			// which the snippet sends to authreq as X-Real-IP. A real
			// botnet has real addresses; this is how one machine plays it.
			body = fmt.Sprintf("    set_real_ip_from 127.0.0.1;\n    real_ip_header X-Forwarded-For;\n    include %s;\n    location / { include %s; %s }\n",
				locations["authreq"], protect, toApp)
		}
		http.WriteString(body + "  }\n")
	}

	user := ""
	if s.Root {
		user = "user root;\n" // workers must read the temp dirs
	}
	p := s.Prefix
	conf := fmt.Sprintf(`%sworker_processes auto;
worker_rlimit_nofile 16384;
daemon off;
master_process on;
pid %[2]s/nginx.pid;
error_log %[2]s/logs/error.log warn;
events { worker_connections 4096; }
http {
  # Off: the table measures authentication, not logging.
  access_log off;
  client_body_temp_path %[2]s/tmp/body;
  proxy_temp_path %[2]s/tmp/proxy;
  fastcgi_temp_path %[2]s/tmp/fastcgi;
  uwsgi_temp_path %[2]s/tmp/uwsgi;
  scgi_temp_path %[2]s/tmp/scgi;
%[3]s}
`, user, p, http.String())
	return write("nginx.conf", conf)
}

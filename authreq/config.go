package authreq

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/authreq/authreq/authreq/audit"
	"github.com/authreq/authreq/authreq/htfile"
	"github.com/authreq/authreq/authreq/ldapauth"
	"github.com/authreq/authreq/authreq/mlflowdb"
	"github.com/authreq/authreq/authreq/policy"
	"github.com/authreq/authreq/authreq/request"
	"github.com/authreq/authreq/authreq/throttle"
	"github.com/authreq/authreq/authreq/tokens"
	"github.com/authreq/authreq/authreq/vcache"
	"github.com/authreq/authreq/internal/duration"
	"go.yaml.in/yaml/v3"
)

// Config is the service's configuration: the YAML keys of DESIGN.md.
type Config struct {
	Listen        string          `yaml:"listen"`        // host:port or unix:/path
	MetricsListen string          `yaml:"metricsListen"` // empty: /metrics on Listen
	Realm         string          `yaml:"realm"`
	Headers       Headers         `yaml:"headers"`
	Htpasswd      htfile.Config   `yaml:"htpasswd"`
	Cache         vcache.Config   `yaml:"cache"`
	LDAP          ldapauth.Config `yaml:"ldap"`
	MLflowAuthDB  mlflowdb.Config `yaml:"mlflowAuthDB"`
	Tokens        tokens.Config   `yaml:"tokens"`
	RateLimit     throttle.Config `yaml:"rateLimit"`
	Audit         audit.Config    `yaml:"audit"`
	Policy        policy.Config   `yaml:"policy"`
	// OriginalRequest says which proxy's headers describe the original
	// request: auto, nginx, ingress-nginx, forwarded or envoy.
	OriginalRequest request.Form `yaml:"originalRequest"`
	// VerifyQueueTimeout bounds how long a cold password check waits for
	// a slot in the verification pool before the answer is 503.
	VerifyQueueTimeout duration.Duration `yaml:"verifyQueueTimeout"`
	// VerifyWorkers is the size of that pool; 0 means one fewer than the
	// CPUs Go runs on (GOMAXPROCS), at least one: under a flood of cold
	// checks one core stays with cached users and nginx.
	VerifyWorkers int `yaml:"verifyWorkers"`
}

// Headers names the identity headers of a 200 answer.
type Headers struct {
	User   string `yaml:"user"`
	Groups string `yaml:"groups"`
	Role   string `yaml:"role"`
}

// DefaultConfig returns the defaults of DESIGN.md.
func DefaultConfig() *Config {
	c := &Config{
		Listen:             "127.0.0.1:9091",
		Realm:              "Restricted",
		Headers:            Headers{User: "X-User", Groups: "X-Groups", Role: "X-Role"},
		Cache:              vcache.Defaults(),
		VerifyQueueTimeout: duration.Duration(5 * time.Second),
		Audit:              audit.Defaults(),
		OriginalRequest:    request.Auto,
	}
	c.LDAP = ldapauth.Defaults()
	c.MLflowAuthDB = mlflowdb.Defaults()
	c.RateLimit = throttle.Defaults()
	return c
}

// LoadConfig reads a YAML config file over the defaults, strictly: an
// unknown key is an error naming it and its line.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses YAML over the defaults; it does not Validate, so that
// flags and environment can still change the result.
func ParseConfig(b []byte) (*Config, error) {
	c := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, cleanYAMLError(err)
	}
	return c, nil
}

var yamlTypeRE = regexp.MustCompile(`in type [\w.]+`)

// cleanYAMLError drops Go type names from yaml's messages.
func cleanYAMLError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	msg = yamlTypeRE.ReplaceAllString(msg, "")
	return errors.New(strings.TrimSpace(msg))
}

var headerNameRE = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

// Validate checks the whole config once, at start; each error names its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) { errs = append(errs, fmt.Errorf(key+": "+format, a...)) }
	if err := validListen(c.Listen); err != nil {
		bad("listen", "%v", err)
	}
	if c.MetricsListen != "" {
		if err := validListen(c.MetricsListen); err != nil {
			bad("metricsListen", "%v", err)
		}
	}
	if c.Realm == "" || strings.ContainsAny(c.Realm, "\"\\\r\n") || !isPrintable(c.Realm) {
		bad("realm", "must be non-empty printable text without quotes or backslashes")
	}
	for key, v := range map[string]string{"headers.user": c.Headers.User, "headers.groups": c.Headers.Groups, "headers.role": c.Headers.Role} {
		if !headerNameRE.MatchString(v) {
			bad(key, "%q is not a header name", v)
		}
	}
	if len(c.Htpasswd.Files) == 0 && !c.LDAP.Enabled && len(c.Tokens.Files) == 0 && !c.MLflowAuthDB.Enabled() {
		bad("htpasswd.files", "no backend: give at least one htpasswd file or token file, mlflowAuthDB.uri, or enable ldap")
	}
	if c.MLflowAuthDB.Enabled() && c.LDAP.Enabled && c.LDAP.BindDN == "" {
		// MLflow's users log in only under names the directory does not
		// hold; without a service account it cannot be asked.
		bad("mlflowAuthDB", "with ldap enabled, ldap.bindDN is needed (a service account to ask the directory which names it holds)")
	}
	if err := c.MLflowAuthDB.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Tokens.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Htpasswd.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Cache.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.VerifyQueueTimeout <= 0 {
		bad("verifyQueueTimeout", "must be positive")
	}
	if c.VerifyWorkers < 0 {
		bad("verifyWorkers", "must not be negative")
	}
	if err := c.RateLimit.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Audit.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.OriginalRequest.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Policy.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.LDAP.Enabled {
		if err := c.LDAP.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// workers leaves a core to everything else by default: the workers' low
// priority alone does not. Each garbage collection stops the world until
// every worker thread has been scheduled again, and checks fill every gap
// between nginx's and the handlers' turns. On 2 cores, cached users' p99
// during a flood of cold checks was 12-13 ms with a worker per core and
// Go's default GC; with a core left and GOGC at 400 (cmd/authreq), 8-9 ms
// (make bench, side by side).
func (c *Config) workers() int {
	if c.VerifyWorkers > 0 {
		return c.VerifyWorkers
	}
	return max(1, procsBase-1)
}

func validListen(s string) error {
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" {
			return errors.New("unix: needs a socket path")
		}
		return nil
	}
	_, port, err := net.SplitHostPort(s)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: want host:port or unix:/path", s)
	}
	return nil
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

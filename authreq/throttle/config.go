package throttle

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/authreq/authreq/internal/duration"
)

// Config is the `rateLimit:` section: brute-force throttling. Its
// trustedProxies also decide whose X-Real-IP / X-Forwarded-For is believed.
type Config struct {
	TrustedProxies []string `yaml:"trustedProxies"`
	// ClientAddressHeader is where a trusted proxy puts the client's
	// address: X-Real-IP (nginx, the default) or X-Forwarded-For (proxies
	// that pass a client's own X-Real-IP through, such as Caddy).
	ClientAddressHeader string `yaml:"clientAddressHeader"`
	Failures            struct {
		PerUserAndIP int               `yaml:"perUserAndIP"`
		PerIP        int               `yaml:"perIP"`
		PerUser      int               `yaml:"perUser"`
		Window       duration.Duration `yaml:"window"`
	} `yaml:"failures"`
	Backoff struct {
		Initial duration.Duration `yaml:"initial"`
		Max     duration.Duration `yaml:"max"`
	} `yaml:"backoff"`
	MaxEntries int `yaml:"maxEntries"`
	// ClientPrefix is how much of a client address one budget covers:
	// an IPv6 host usually has a whole /64 to pick addresses from.
	ClientPrefix struct {
		IPv4 int `yaml:"ipv4"`
		IPv6 int `yaml:"ipv6"`
	} `yaml:"clientPrefix"`
	// Store is where the throttle's state lives: absent, in this process;
	// with redis set, in Redis, shared by every replica.
	Store struct {
		Redis RedisConfig `yaml:"redis"`
	} `yaml:"store"`

	trusted []netip.Prefix // TrustedProxies, parsed by Validate
}

// Defaults is the section before a config file is read.
func Defaults() Config {
	var c Config
	c.TrustedProxies = []string{"127.0.0.0/8", "::1/128"}
	c.ClientAddressHeader = "X-Real-IP"
	c.Failures.PerUserAndIP = 5
	c.Failures.PerIP = 50
	c.Failures.PerUser = 20
	c.Failures.Window = duration.Duration(10 * time.Minute)
	c.Backoff.Initial = duration.Duration(time.Second)
	c.Backoff.Max = duration.Duration(15 * time.Minute)
	c.MaxEntries = 100000
	c.ClientPrefix.IPv4 = 32
	c.ClientPrefix.IPv6 = 64
	c.Store.Redis.KeyPrefix = "authreq:"
	c.Store.Redis.Timeout = duration.Duration(50 * time.Millisecond)
	return c
}

// Trusted is TrustedProxies as prefixes, once Validate has passed.
func (c *Config) Trusted() []netip.Prefix { return c.trusted }

// Validate checks the section, every error at once, each naming its key
// under rateLimit:, and parses the trusted proxies.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("rateLimit."+key+": "+format, a...))
	}
	c.trusted = nil
	for i, p := range c.TrustedProxies {
		pfx, err := parsePrefix(p)
		if err != nil {
			bad(fmt.Sprintf("trustedProxies[%d]", i), "%q: want a CIDR such as 10.0.0.0/8 or an address", p)
			continue
		}
		c.trusted = append(c.trusted, pfx)
	}
	switch c.ClientAddressHeader {
	case "X-Real-IP", "X-Forwarded-For":
	default:
		bad("clientAddressHeader", "%q: want X-Real-IP or X-Forwarded-For", c.ClientAddressHeader)
	}
	f := c.Failures
	for key, v := range map[string]int{"perUserAndIP": f.PerUserAndIP, "perIP": f.PerIP, "perUser": f.PerUser} {
		if v < 0 {
			bad("failures."+key, "must not be negative")
		}
	}
	if f.Window < 0 {
		bad("failures.window", "must not be negative")
	}
	// rateLimit.failures.window: 0 is the one switch that turns throttling
	// off; while it is on, a zero backoff or table size would turn it off
	// as silently, so they must be positive. Off, they are unused and may
	// be zero, but never negative.
	b, on := c.Backoff, f.Window > 0
	switch {
	case b.Initial < 0 || (on && b.Initial == 0):
		bad("backoff.initial", "must be positive while rateLimit.failures.window is not 0 (a zero backoff never blocks)")
	case b.Max < 0 || (on && b.Max == 0):
		bad("backoff.max", "must be positive while rateLimit.failures.window is not 0")
	case b.Max < b.Initial:
		bad("backoff.max", "must not be below rateLimit.backoff.initial (%s)", b.Initial.D())
	}
	if on && f.PerUserAndIP == 0 && f.PerIP == 0 && f.PerUser == 0 {
		bad("failures", "every bound is 0 while window is not: that turns throttling off silently; set window: 0 to turn it off")
	}
	if c.MaxEntries < 0 || (on && c.MaxEntries == 0) {
		bad("maxEntries", "must be positive while rateLimit.failures.window is not 0 (0 would remember no failure)")
	}
	if v := c.ClientPrefix.IPv4; v < 8 || v > 32 {
		bad("clientPrefix.ipv4", "%d: want 8 to 32 (prefix length of the addresses one budget covers)", v)
	}
	if v := c.ClientPrefix.IPv6; v < 32 || v > 128 {
		bad("clientPrefix.ipv6", "%d: want 32 to 128 (prefix length of the addresses one budget covers)", v)
	}
	if err := c.Store.Redis.validate(on); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// RedisConfig is `rateLimit.store.redis:`, the state every replica shares.
type RedisConfig struct {
	Address  string `yaml:"address"` // host:port; empty: no shared store
	Username string `yaml:"username"`
	// PasswordFile holds the password (a mounted Secret), never the
	// config itself.
	PasswordFile string `yaml:"passwordFile"`
	// TLS connects with TLS, verified against the system's roots.
	TLS       bool              `yaml:"tls"`
	KeyPrefix string            `yaml:"keyPrefix"`
	Timeout   duration.Duration `yaml:"timeout"` // past it, the replica throttles on its own
	// HMACKeyFile holds the key that names and addresses are hashed
	// under: the same on every replica, and never in Redis, so that a dump
	// of Redis does not tell who failed to log in from where.
	HMACKeyFile string `yaml:"hmacKeyFile"`
}

// Enabled tells whether the state is shared in Redis.
func (c RedisConfig) Enabled() bool { return c.Address != "" }

func (c RedisConfig) validate(throttling bool) error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("rateLimit.store.redis."+key+": "+format, a...))
	}
	if !c.Enabled() {
		if c.HMACKeyFile != "" || c.PasswordFile != "" || c.Username != "" || c.TLS {
			bad("address", "required when any other rateLimit.store.redis key is set")
		}
		return errors.Join(errs...)
	}
	host, port, err := net.SplitHostPort(c.Address)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || host == "" || n < 1 || n > 65535 {
		bad("address", "%q: want host:port, such as redis:6379", c.Address)
	}
	if c.HMACKeyFile == "" {
		bad("hmacKeyFile", "required with rateLimit.store.redis: a file of at least 32 random bytes, the same on every replica (e.g. a Kubernetes Secret)")
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be positive")
	}
	if !throttling {
		bad("address", "set while throttling is off (rateLimit.failures.window: 0): there is nothing to share")
	}
	return errors.Join(errs...)
}

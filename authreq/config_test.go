package authreq

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigFiles loads each testdata/NAME.good.yml, which must validate,
// and each NAME.bad.yml, whose error must contain NAME.bad.err; run one
// with -run TestConfigFiles/NAME.
func TestConfigFiles(t *testing.T) {
	good, _ := filepath.Glob("testdata/*.good.yml")
	bad, _ := filepath.Glob("testdata/*.bad.yml")
	if len(good) < 3 || len(bad) < 10 {
		t.Fatal("testdata missing")
	}
	load := func(f string) error {
		c, err := LoadConfig(f)
		if err == nil {
			err = c.Validate()
		}
		return err
	}
	for _, f := range good {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yml"), func(t *testing.T) {
			if err := load(f); err != nil {
				t.Error(err)
			}
		})
	}
	for _, f := range bad {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yml"), func(t *testing.T) {
			b, err := os.ReadFile(strings.TrimSuffix(f, ".yml") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSpace(string(b))
			if err := load(f); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want %q", err, want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("htpasswd: {files: [/x]}\ncache: {ttl: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9091" || c.Cache.TTL != 0 || c.Cache.MaxEntries != 100000 || c.Realm != "Restricted" ||
		c.RateLimit.Failures.PerUserAndIP != 5 || c.RateLimit.Backoff.Max.D() != 15*time.Minute || c.LDAP.PoolSize != 8 ||
		c.RateLimit.ClientPrefix.IPv4 != 32 || c.RateLimit.ClientPrefix.IPv6 != 64 {
		t.Errorf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.RateLimit.Trusted()) != 2 {
		t.Errorf("trusted %v", c.RateLimit.Trusted())
	}
}

func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseConfig(in)
		if err != nil {
			return
		}
		c.Validate() // errors are fine; panics are not
	})
}

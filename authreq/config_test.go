package authreq

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigFiles(t *testing.T) {
	good, _ := filepath.Glob("testdata/*.good.yml")
	for _, f := range good {
		c, err := LoadConfig(f)
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	bad, _ := filepath.Glob("testdata/*.bad.yml")
	for _, f := range bad {
		want, _ := os.ReadFile(strings.TrimSuffix(f, ".yml") + ".err")
		c, err := LoadConfig(f)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(string(want))) {
			t.Errorf("%s: got %v, want %q", f, err, strings.TrimSpace(string(want)))
		}
	}
	if len(good) < 3 || len(bad) < 10 {
		t.Fatal("testdata missing")
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("htpasswd: {files: [/x]}\ncache: {ttl: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9091" || c.Cache.TTL != 0 || c.Cache.MaxEntries != 100000 || c.Realm != "Restricted" ||
		c.RateLimit.Failures.PerUserAndIP != 5 || c.RateLimit.Backoff.Max.D() != 15*time.Minute || c.LDAP.PoolSize != 8 {
		t.Errorf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.RateLimit.trusted) != 2 {
		t.Errorf("trusted %v", c.RateLimit.trusted)
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

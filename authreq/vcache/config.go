package vcache

import (
	"errors"
	"time"

	"github.com/authreq/authreq/internal/duration"
)

// Config is the `cache:` section.
type Config struct {
	TTL        duration.Duration `yaml:"ttl"`        // how long a success is remembered; 0 turns the cache off
	MaxEntries int               `yaml:"maxEntries"` // least recently used go first
}

// Defaults is the section before a config file is read.
func Defaults() Config { return Config{TTL: duration.Duration(5 * time.Minute), MaxEntries: 100000} }

// Validate checks the section; errors name the key under cache:.
func (c Config) Validate() error {
	var errs []error
	if c.TTL < 0 {
		errs = append(errs, errors.New("cache.ttl: must not be negative"))
	}
	if c.MaxEntries < 0 {
		errs = append(errs, errors.New("cache.maxEntries: must not be negative"))
	}
	return errors.Join(errs...)
}

package audit

import (
	"errors"
	"fmt"
)

// Config is the `audit:` section.
type Config struct {
	Output string `yaml:"output"` // stdout, stderr, or a file path (reopened on SIGHUP)
	Format string `yaml:"format"` // json
}

// Defaults is the section before a config file is read.
func Defaults() Config { return Config{Output: "stdout", Format: "json"} }

// Validate checks the section; errors name the key under audit:.
func (c Config) Validate() error {
	var errs []error
	if c.Output == "" {
		errs = append(errs, errors.New("audit.output: stdout, stderr or a file path"))
	}
	if c.Format != "json" {
		errs = append(errs, fmt.Errorf("audit.format: %q: only json is supported", c.Format))
	}
	return errors.Join(errs...)
}

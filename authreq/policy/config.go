package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Config is the `policy:` section. Empty (or absent), every authenticated
// user may do everything, as before policies.
type Config struct {
	// Preset classifies a known upstream's endpoints: "" (none) or
	// "mlflow".
	Preset string `yaml:"preset"`
	// DefaultPermission is the level of a user no grant matches (MLflow's
	// default_permission); default READ.
	DefaultPermission string `yaml:"defaultPermission"`
	// Admins may do everything, unknown endpoints included. Absent, role
	// admin (the LDAP admin group) is an admin.
	Admins *Subjects `yaml:"admins"`
	Grants []Grant   `yaml:"grants"`
	// Rules are checked first, in order; the first that matches decides.
	Rules []Rule `yaml:"rules"`
}

// Subjects name users, groups and roles; any one of them matching is a
// match. User names match exactly (as the store spells them: X-User);
// groups and roles without regard to case, as LDAP compares names.
type Subjects struct {
	Users  []string `yaml:"users"`
	Groups []string `yaml:"groups"`
	Roles  []string `yaml:"roles"`
}

// Grant gives subjects a level, everywhere or only for some resources or
// workspaces.
type Grant struct {
	Subjects         `yaml:",inline"`
	Level            string   `yaml:"level"`
	Experiments      []string `yaml:"experiments"`
	RegisteredModels []string `yaml:"registeredModels"`
	Workspaces       []string `yaml:"workspaces"`

	level Level
	// floor: a per-resource grant that only raises the global level (read
	// from MLflow 3.13+'s role tables); see SetStoreGrants.
	floor bool
	// source: the user store a grant was read from ("" for the config's):
	// it is for that store's users only.
	source string
	// Deny: a store's explicit deny (MLflow 3.16's DENY rows) of the
	// resources named, or of everything in the workspaces when none is;
	// in floor sets only. Level is ignored. See SetStoreGrants.
	Deny bool `yaml:"-"`
}

// Rule decides requests by host, path and method, for any upstream.
type Rule struct {
	Host       string   `yaml:"host"`       // exact, without regard to case or port
	PathPrefix string   `yaml:"pathPrefix"` // on the decoded, canonical path
	PathRegex  string   `yaml:"pathRegex"`  // RE2, on the decoded, canonical path
	Methods    []string `yaml:"methods"`    // GET also matches HEAD; empty: any
	// Public: no credentials needed, none checked. Otherwise only the
	// subjects pass (everyone else 403); a rule naming no subjects lets
	// every authenticated user pass.
	Public   bool `yaml:"public"`
	Subjects `yaml:",inline"`

	re *regexp.Regexp
}

// Enabled tells whether the section says anything.
func (c *Config) Enabled() bool {
	return c.Preset != "" || c.DefaultPermission != "" || c.Admins != nil || len(c.Grants) > 0 || len(c.Rules) > 0
}

func (s Subjects) empty() bool { return len(s.Users)+len(s.Groups)+len(s.Roles) == 0 }

// Validate checks the section, every error at once, each naming its key
// under policy:.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("policy."+key+": "+format, a...))
	}
	switch c.Preset {
	case "":
	case "mlflow":
	default:
		bad("preset", "%q: want mlflow or nothing", c.Preset)
	}
	if c.DefaultPermission != "" {
		if _, err := ParseLevel(c.DefaultPermission); err != nil {
			bad("defaultPermission", "%v", err)
		}
	}
	if c.Preset == "" {
		// Levels mean something only where a preset tells what each
		// endpoint does; accepting them without one would look like
		// protection and be none.
		if c.DefaultPermission != "" {
			bad("defaultPermission", "levels apply only with a preset (preset: mlflow)")
		}
		if len(c.Grants) > 0 {
			bad("grants", "levels apply only with a preset (preset: mlflow); use rules for any other upstream")
		}
	}
	if c.Admins != nil && c.Admins.empty() {
		bad("admins", "names no users, groups or roles (leave the key out for the default: role admin)")
	}
	for i := range c.Grants {
		g := &c.Grants[i]
		key := fmt.Sprintf("grants[%d]", i)
		if g.empty() {
			bad(key, "names no users, groups or roles")
		}
		l, err := ParseLevel(g.Level)
		if err != nil {
			bad(key+".level", "%v", err)
		}
		g.level = l
		if len(g.Experiments) > 0 && len(g.RegisteredModels) > 0 {
			bad(key, "one grant is for experiments or for registeredModels, not both")
		}
		if slices.ContainsFunc(append(slices.Clone(g.Experiments), g.RegisteredModels...), func(r string) bool { return strings.ContainsRune(r, 0) }) {
			bad(key, "a resource name with a NUL character")
		}
	}
	for i := range c.Rules {
		r := &c.Rules[i]
		key := fmt.Sprintf("rules[%d]", i)
		if r.Host == "" && r.PathPrefix == "" && r.PathRegex == "" && len(r.Methods) == 0 {
			bad(key, "matches every request: give host, pathPrefix, pathRegex or methods")
		}
		if r.PathPrefix != "" && !strings.HasPrefix(r.PathPrefix, "/") {
			bad(key+".pathPrefix", "%q: must start with /", r.PathPrefix)
		}
		if r.PathRegex != "" {
			re, err := regexp.Compile(r.PathRegex)
			if err != nil {
				bad(key+".pathRegex", "%v", err)
			}
			r.re = re
		}
		for j, m := range r.Methods {
			if m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t/") {
				bad(fmt.Sprintf("%s.methods[%d]", key, j), "%q: want an upper-case HTTP method such as GET", m)
			}
		}
		if r.Public && !r.Subjects.empty() {
			bad(key, "public, and names who may pass: one or the other")
		}
	}
	return errors.Join(errs...)
}

// Package policy decides what an authenticated identity may do with the
// original request. Without a policy every authenticated user may do
// everything (the behaviour before policies); rules, levels, grants and the
// MLflow preset come with the authorization issue and live here.
package policy

import (
	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/authreq/request"
)

// Config is the `policy:` section. Only {} is accepted for now: a key
// meant for a later release is an error, not silently ignored.
type Config struct{}

// Request is what the policy decides on: the original request as the
// proxy describes it, and whether that description could be believed
// (request.ErrConflict, request.ErrNoForm).
type Request struct {
	request.Original
	Err error
}

// Decision is the policy's answer; Reason says why, for the audit log.
type Decision struct {
	Allow  bool
	Reason string
}

// Policy is a loaded Config.
type Policy struct{}

// New loads cfg.
func New(cfg Config) (*Policy, error) { return &Policy{}, nil }

// Decide tells whether id may do req.
func (p *Policy) Decide(id identity.Identity, req Request) Decision {
	return Decision{Allow: true}
}

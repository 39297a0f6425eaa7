// Package identity holds what the other parts of authreq share: the
// credentials a request presents, the identity a backend answers with, the
// Authenticator interface every user store implements (with optional
// abilities found by type assertion), its errors, and the Chain that asks
// several stores in turn. It depends on the standard library only.
package identity

import "log/slog"

// Credentials are what a request presents: Basic or Bearer. Their String
// and LogValue never show a secret, so a stray %v or slog attribute cannot
// leak one.
type Credentials interface {
	// Principal is the name the credentials claim ("" for a Bearer token,
	// whose user only its store knows): the throttle's key.
	Principal() string
	isCredentials()
}

// Basic is a user name and password (RFC 7617).
type Basic struct {
	User     string
	Password string
}

// Bearer is an API token (RFC 6750).
type Bearer struct {
	Token string
}

func (b Basic) Principal() string     { return b.User }
func (Bearer) Principal() string      { return "" }
func (Basic) isCredentials()          {}
func (Bearer) isCredentials()         {}
func (b Basic) String() string        { return "Basic(" + b.User + ")" }
func (Bearer) String() string         { return "Bearer(…)" }
func (b Basic) GoString() string      { return b.String() }
func (b Bearer) GoString() string     { return b.String() }
func (b Basic) LogValue() slog.Value  { return slog.StringValue(b.String()) }
func (b Bearer) LogValue() slog.Value { return slog.StringValue(b.String()) }

// Identity is who a store says the user is.
type Identity struct {
	User   string
	Groups []string // group names (LDAP group CNs); nil when the store has none
	Role   string   // "admin", "user", or "" when the store has no roles
	Source string   // the store that answered: "htpasswd", "ldap", "token", …
	// TokenID is the id of the API token that authenticated the request
	// ("" for a password): audited, never the token itself. A token
	// identity is never an admin.
	TokenID string
	// MaxLevel caps the policy level of a token identity: a level name
	// (READ, USE, EDIT, MANAGE); "" for no cap.
	MaxLevel string
}

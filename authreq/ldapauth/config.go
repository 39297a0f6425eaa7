// Package ldapauth checks passwords against an LDAP directory by binding as
// the user, and tells admins from users by group, with the keys of the
// MLflow Helm chart's ldapAuth block. A bounded pool of connections keeps
// the warm path free of TCP and TLS handshakes.
package ldapauth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/authreq/authreq/internal/duration"
	"github.com/go-ldap/ldap/v3"
)

// Config is the `ldap:` section of authreq's configuration, with the key
// names of the MLflow Helm chart's ldapAuth block.
type Config struct {
	Enabled                     bool              `yaml:"enabled"`
	URI                         string            `yaml:"uri"`             // ldap://host:389/dc=example,dc=org or ldaps://…
	TLSVerification             string            `yaml:"tlsVerification"` // "required" (default) or "none"
	StartTLS                    bool              `yaml:"startTLS"`
	AllowInsecure               bool              `yaml:"allowInsecure"` // plain ldap:// without TLS
	LookupBind                  string            `yaml:"lookupBind"`    // uid=%s,ou=people,dc=example,dc=org
	BindDN                      string            `yaml:"bindDN"`        // service account for search-then-bind and group searches
	BindPassword                string            `yaml:"bindPassword"`
	BindPasswordFile            string            `yaml:"bindPasswordFile"`
	UserSearchBase              string            `yaml:"userSearchBase"`              // default: the URI's base DN
	UserFilter                  string            `yaml:"userFilter"`                  // default (uid=%s)
	GroupAttribute              string            `yaml:"groupAttribute"`              // "dn" (default) or an attribute of the user entry
	SearchBaseDistinguishedName string            `yaml:"searchBaseDistinguishedName"` // where groups are searched
	SearchFilter                string            `yaml:"searchFilter"`                // %s: the user's DN or GroupAttribute value
	AdminGroupDistinguishedName string            `yaml:"adminGroupDistinguishedName"`
	UserGroupDistinguishedName  string            `yaml:"userGroupDistinguishedName"`
	EncodedTrustedCACertificate string            `yaml:"encodedTrustedCACertificate"` // base64 of PEM, as in the Helm chart
	TrustedCACertificateFile    string            `yaml:"trustedCACertificateFile"`
	Timeout                     duration.Duration `yaml:"timeout"`  // per operation; default 5s
	PoolSize                    int               `yaml:"poolSize"` // default 8
}

// Defaults is the section before a config file is read.
func Defaults() Config {
	return Config{TLSVerification: "required", UserFilter: "(uid=%s)", GroupAttribute: "dn",
		Timeout: duration.Duration(5 * time.Second), PoolSize: 8}
}

// settings is a validated Config.
type settings struct {
	Config
	url       string // scheme://host:port, no path
	baseDN    string
	tls       *tls.Config
	bindPW    string
	adminDN   *ldap.DN
	userDN    *ldap.DN
	hasGroups bool
	nameAttr  string // attribute holding the user name ("uid"), "" if unknown
	timeout   time.Duration
}

var filterAttrRE = regexp.MustCompile(`\(([A-Za-z][A-Za-z0-9-]*)=%s\)`)

// Validate checks c without connecting; errors name the key as it appears
// under `ldap:`.
func (c Config) Validate() error {
	_, err := c.validate()
	return err
}

// validate checks c; errors name the key as it appears under `ldap:`.
func (c Config) validate() (*settings, error) {
	s := &settings{Config: c}
	if s.Timeout == 0 {
		s.Timeout = duration.Duration(5 * time.Second)
	}
	s.timeout = s.Timeout.D()
	if s.PoolSize == 0 {
		s.PoolSize = 8
	}
	if s.UserFilter == "" {
		s.UserFilter = "(uid=%s)"
	}
	if s.GroupAttribute == "" {
		s.GroupAttribute = "dn"
	}
	if s.TLSVerification == "" {
		s.TLSVerification = "required"
	}
	switch {
	case s.Timeout < 0:
		return nil, errors.New("ldap.timeout: must not be negative")
	case s.PoolSize < 1 || s.PoolSize > 1024:
		return nil, errors.New("ldap.poolSize: must be between 1 and 1024")
	case s.TLSVerification != "required" && s.TLSVerification != "none":
		return nil, fmt.Errorf("ldap.tlsVerification: %q: want required or none", s.TLSVerification)
	}
	u, err := url.Parse(s.URI)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("ldap.uri: %q: want ldap://host[:port]/baseDN or ldaps://…", s.URI)
	}
	switch u.Scheme {
	case "ldaps":
		if s.StartTLS {
			return nil, errors.New("ldap.startTLS: not with ldaps://, which is TLS already")
		}
	case "ldap":
		if !s.StartTLS && !s.AllowInsecure {
			return nil, errors.New("ldap.uri: plain ldap:// sends passwords in clear; set ldap.startTLS: true, use ldaps://, or set ldap.allowInsecure: true")
		}
	default:
		return nil, fmt.Errorf("ldap.uri: scheme %q: want ldap or ldaps", u.Scheme)
	}
	s.url = u.Scheme + "://" + u.Host
	s.baseDN = strings.TrimPrefix(u.Path, "/")
	if s.baseDN != "" {
		if _, err := ldap.ParseDN(s.baseDN); err != nil {
			return nil, fmt.Errorf("ldap.uri: base DN: %v", err)
		}
	}
	if s.UserSearchBase == "" {
		s.UserSearchBase = s.baseDN
	}
	switch {
	case s.BindDN == "" && s.LookupBind == "":
		return nil, errors.New("ldap.lookupBind: needed (e.g. uid=%s,ou=people,dc=example,dc=org), or ldap.bindDN for search-then-bind")
	case s.BindDN == "" && strings.Count(s.LookupBind, "%s") != 1:
		return nil, errors.New("ldap.lookupBind: must contain %s exactly once")
	case s.BindDN != "" && strings.Count(s.UserFilter, "%s") != 1:
		return nil, errors.New("ldap.userFilter: must contain %s exactly once")
	case s.BindDN != "" && s.UserSearchBase == "":
		return nil, errors.New("ldap.userSearchBase: needed with ldap.bindDN when ldap.uri has no base DN")
	}
	s.bindPW = s.BindPassword
	if s.BindPasswordFile != "" {
		if s.BindPassword != "" {
			return nil, errors.New("ldap.bindPasswordFile: give bindPassword or bindPasswordFile, not both")
		}
		b, err := os.ReadFile(s.BindPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("ldap.bindPasswordFile: %w", err)
		}
		s.bindPW = strings.TrimRight(string(b), "\r\n")
	}
	if s.BindDN != "" && s.bindPW == "" {
		return nil, errors.New("ldap.bindPassword: needed with ldap.bindDN (an empty password would be an anonymous bind)")
	}
	if s.SearchBaseDistinguishedName != "" && strings.Count(s.SearchFilter, "%s") != 1 {
		return nil, errors.New("ldap.searchFilter: must contain %s exactly once")
	}
	for key, dn := range map[string]*string{"adminGroupDistinguishedName": &s.AdminGroupDistinguishedName, "userGroupDistinguishedName": &s.UserGroupDistinguishedName} {
		if *dn == "" {
			continue
		}
		parsed, err := ldap.ParseDN(*dn)
		if err != nil {
			return nil, fmt.Errorf("ldap.%s: %v", key, err)
		}
		if key == "adminGroupDistinguishedName" {
			s.adminDN = parsed
		} else {
			s.userDN = parsed
		}
		s.hasGroups = true
	}
	if s.hasGroups && s.SearchBaseDistinguishedName == "" {
		return nil, errors.New("ldap.searchBaseDistinguishedName: needed to check group membership")
	}
	// The attribute the user name is matched against, to report the
	// directory's spelling of the name rather than the one typed.
	if s.BindDN != "" {
		if m := filterAttrRE.FindStringSubmatch(s.UserFilter); m != nil {
			s.nameAttr = m[1]
		}
	} else if dn, err := ldap.ParseDN(strings.Replace(s.LookupBind, "%s", "x", 1)); err == nil && len(dn.RDNs) > 0 && len(dn.RDNs[0].Attributes) == 1 {
		s.nameAttr = dn.RDNs[0].Attributes[0].Type
	} else if err != nil {
		return nil, fmt.Errorf("ldap.lookupBind: %v", err)
	}
	if s.tls, err = s.tlsConfig(u.Hostname()); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *settings) tlsConfig(host string) (*tls.Config, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	add := func(key string, pemData []byte) error {
		if !roots.AppendCertsFromPEM(pemData) {
			return fmt.Errorf("ldap.%s: no PEM certificate found", key)
		}
		return nil
	}
	if s.EncodedTrustedCACertificate != "" {
		pemData, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s.EncodedTrustedCACertificate))
		if err != nil {
			return nil, fmt.Errorf("ldap.encodedTrustedCACertificate: invalid base64")
		}
		if err := add("encodedTrustedCACertificate", pemData); err != nil {
			return nil, err
		}
	}
	if s.TrustedCACertificateFile != "" {
		pemData, err := os.ReadFile(s.TrustedCACertificateFile)
		if err != nil {
			return nil, fmt.Errorf("ldap.trustedCACertificateFile: %w", err)
		}
		if err := add("trustedCACertificateFile", pemData); err != nil {
			return nil, err
		}
	}
	return &tls.Config{
		ServerName:         host,
		RootCAs:            roots,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: s.TLSVerification == "none",
	}, nil
}

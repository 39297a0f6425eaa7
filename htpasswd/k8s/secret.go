// Package k8s reads and edits the Kubernetes Secret manifests that hold
// htpasswd data for ingress-nginx (auth-file: a key "auth"; auth-map: a key
// per user) and authreq (a "groups" key beside "auth"), refusing what
// kubectl would read otherwise.
package k8s

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/authreq/authreq/htpasswd"
	"go.yaml.in/yaml/v3"
)

// SecretFormat is how a Kubernetes Secret holds htpasswd data, as
// ingress-nginx's nginx.ingress.kubernetes.io/auth-secret-type reads it.
type SecretFormat string

const (
	// AuthFile: one key, "auth", holding the whole htpasswd file.
	AuthFile SecretFormat = "auth-file"
	// AuthMap: one key per user, the value being that user's hash.
	AuthMap SecretFormat = "auth-map"
)

// SecretKey is the data key of the auth-file format.
const SecretKey = "auth"

// Errors from the Secret decoder.
var (
	ErrNotSecret    = errors.New("not a Kubernetes Secret")
	ErrNoAuthKey    = errors.New(`secret has no "auth" key`)
	ErrUserNotInMap = errors.New("user name cannot be an auth-map key (allowed: letters, digits, '-', '.', '_')")
)

var (
	secretKeyRE  = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
	dnsLabelRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// Secret is a Kubernetes Secret manifest being read or edited. It keeps the
// manifest as a YAML node tree, so fields it does not know (labels,
// annotations, immutable, …) and their order survive an edit.
type Secret struct {
	root *yaml.Node // a mapping node
	json bool       // parsed from JSON: Marshal writes JSON
}

// MaxSecretSize bounds a Secret manifest. The API server takes at most
// 1 MiB of data in one Secret; base64 and YAML make a manifest larger, but
// not three times as large.
const MaxSecretSize = 3 << 20

// ErrSecretTooLarge is returned for a manifest over MaxSecretSize.
var ErrSecretTooLarge = fmt.Errorf("manifest larger than %d MiB, which no Kubernetes Secret is (the API server takes at most 1 MiB of data)", MaxSecretSize>>20)

// ParseSecret decodes a Secret manifest in YAML or JSON, as `kubectl get
// secret -o yaml|json` prints it, with htpasswd data in `data` (base64) or
// `stringData`. Errors name the key (`data["auth"]: invalid base64`, keys
// quoted), never a value.
//
// It refuses what kubectl would read differently, so that the users htpw
// shows and edits are the users kubectl applies. kubectl reads YAML 1.1
// and takes the last of duplicate keys, merges `<<` keys and decodes
// `!!binary` ones, and reads plain `yes`, `on` or `0x1F` as a boolean or a
// number. So: no duplicate keys in any mapping, no `<<`, no aliases, keys
// that are strings (plain ones that YAML 1.1 reads as strings too), and in
// data and stringData, values that are such strings and keys that
// Kubernetes allows.
func ParseSecret(data []byte) (*Secret, error) {
	if len(data) > MaxSecretSize {
		return nil, ErrSecretTooLarge
	}
	s := &Secret{json: bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{"))}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty input", ErrNotSecret)
		}
		return nil, fmt.Errorf("decoding manifest: %w", err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document: pass one Secret")
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: not a mapping", ErrNotSecret)
	}
	s.root = doc.Content[0]
	if hasAlias(s.root) {
		return nil, errors.New("YAML aliases are not supported in a Secret manifest")
	}
	if err := checkKeys(s.root); err != nil {
		return nil, err
	}
	switch kind := scalar(get(s.root, "kind")); kind {
	case "Secret":
	case "List", "SecretList":
		return nil, fmt.Errorf("%w: got a %s; pass one Secret (kubectl get secret NAME -o yaml)", ErrNotSecret, kind)
	default:
		return nil, fmt.Errorf("%w: kind is %q", ErrNotSecret, kind)
	}
	if v := get(s.root, "apiVersion"); v != nil && scalar(v) != "v1" {
		return nil, fmt.Errorf("%w: apiVersion is %q, want v1", ErrNotSecret, scalar(v))
	}
	for _, section := range []string{"data", "stringData"} {
		m := get(s.root, section)
		if m == nil || isNull(m) {
			continue
		}
		if m.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: not a mapping", section)
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			name := keyName(section, k.Value)
			if len(k.Value) > 253 || !secretKeyRE.MatchString(k.Value) {
				return nil, fmt.Errorf("%s: not a Secret key (letters, digits, '-', '.' and '_', at most 253 characters)", name)
			}
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
				return nil, fmt.Errorf("%s: value must be a string, not %s", name, nodeType(v))
			}
			if t := yaml11Type(v); t != "" {
				return nil, fmt.Errorf("%s: value must be a string; kubectl reads it as a %s: quote it", name, t)
			}
			if section == "data" {
				if _, err := base64.StdEncoding.Strict().DecodeString(v.Value); err != nil {
					return nil, fmt.Errorf("%s: invalid base64", name)
				}
			}
		}
	}
	return s, nil
}

// keyName names a key of data or stringData in errors: `data["auth"]`.
// The key is quoted: it may hold terminal escapes.
func keyName(section, key string) string { return fmt.Sprintf("%s[%q]", section, key) }

// checkKeys refuses, in every mapping under n, keys that kubectl reads
// otherwise than we do: duplicates (kubectl takes the last, get and set
// here the first), the merge key `<<` (kubectl merges it), keys that are
// not strings or are tagged (a `!!binary` key, which kubectl decodes), and
// plain keys that YAML 1.1 takes for a boolean, null or a number (kubectl
// turns `on` into "true").
func checkKeys(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		seen := make(map[string]int)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			switch {
			case k.Kind == yaml.ScalarNode && (k.ShortTag() == "!!merge" || k.Value == "<<"):
				return fmt.Errorf("line %d: merge keys (<<) are not supported in a Secret manifest: write the keys out", k.Line)
			case k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str":
				return fmt.Errorf("line %d: a key must be a string, not %s", k.Line, nodeType(k))
			}
			if t := yaml11Type(k); t != "" {
				return fmt.Errorf("line %d: key %q: kubectl reads it as a %s: quote it", k.Line, k.Value, t)
			}
			if first, dup := seen[k.Value]; dup {
				return fmt.Errorf("line %d: key %q again (first on line %d): kubectl would apply the last: remove one", k.Line, k.Value, first)
			}
			seen[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if err := checkKeys(c); err != nil {
			return err
		}
	}
	return nil
}

// nodeType describes a node for errors, never quoting its value.
func nodeType(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a sequence"
	case n.Style&yaml.TaggedStyle != 0:
		return "a value tagged " + strconv.Quote(n.Tag)
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	}
	return "a " + strings.TrimPrefix(n.ShortTag(), "!!")
}

// yaml11Float is YAML 1.1's float syntax (after removing '_').
var yaml11Float = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// yaml11Type tells what YAML 1.1, which kubectl's YAML reader follows,
// makes of a scalar that YAML 1.2, ours, reads as a string: "boolean",
// "null" or "number", or "" when a string there too. Only plain, untagged
// scalars differ.
func yaml11Type(n *yaml.Node) string {
	if n.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return ""
	}
	v := n.Value
	switch v {
	case "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
		"true", "True", "TRUE", "false", "False", "FALSE",
		"on", "On", "ON", "off", "Off", "OFF":
		return "boolean"
	case "", "~", "null", "Null", "NULL":
		return "null"
	case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN":
		return "number"
	}
	if strings.IndexByte("+-.0123456789", v[0]) >= 0 {
		plain := strings.ReplaceAll(v, "_", "")
		_, ierr := strconv.ParseInt(plain, 0, 64)
		_, uerr := strconv.ParseUint(plain, 0, 64)
		if ierr == nil || uerr == nil || yaml11Float.MatchString(plain) {
			return "number"
		}
	}
	return ""
}

// NewSecret makes a Secret of type Opaque named name (namespace optional)
// holding f in format.
func NewSecret(name, namespace string, f *htpasswd.File, format SecretFormat) (*Secret, error) {
	if len(name) > 253 || !dnsSubdomain.MatchString(name) {
		return nil, fmt.Errorf("secret name %q: must be lowercase letters, digits, '-' and '.', at most 253 characters", name)
	}
	if namespace != "" && (len(namespace) > 63 || !dnsLabelRE.MatchString(namespace)) {
		return nil, fmt.Errorf("namespace %q: must be lowercase letters, digits and '-', at most 63 characters", namespace)
	}
	meta := mapping("name", name)
	if namespace != "" {
		meta.Content = append(meta.Content, str("namespace"), str(namespace))
	}
	root := mapping("apiVersion", "v1", "kind", "Secret")
	root.Content = append(root.Content, str("metadata"), meta, str("type"), str("Opaque"))
	s := &Secret{root: root}
	if err := s.SetFile(f, format); err != nil {
		return nil, err
	}
	return s, nil
}

// Format is the Secret's htpasswd format: AuthFile when it has an "auth"
// key (in data or stringData) or no keys at all, AuthMap otherwise.
func (s *Secret) Format() SecretFormat {
	vals := s.values()
	if _, ok := vals[SecretKey]; ok || len(vals) == 0 {
		return AuthFile
	}
	return AuthMap
}

// secretValue is the value of a key of data or stringData, decoded, and
// the section it came from.
type secretValue struct {
	section string
	value   []byte
}

// values merges data (decoded) and stringData; stringData wins, as on the
// API server.
func (s *Secret) values() map[string]secretValue {
	out := make(map[string]secretValue)
	for _, section := range []string{"data", "stringData"} {
		m := get(s.root, section)
		if m == nil || m.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			v := []byte(m.Content[i+1].Value)
			if section == "data" {
				v, _ = base64.StdEncoding.Strict().DecodeString(m.Content[i+1].Value) // checked by ParseSecret
			}
			out[m.Content[i].Value] = secretValue{section: section, value: v}
		}
	}
	return out
}

// htpasswd.File returns the htpasswd content in format ("" means s.Format()).
func (s *Secret) File(format SecretFormat) (*htpasswd.File, error) {
	if format == "" {
		format = s.Format()
	}
	vals := s.values()
	switch format {
	case AuthFile:
		v, ok := vals[SecretKey]
		if !ok {
			return nil, ErrNoAuthKey
		}
		f, err := htpasswd.Parse(bytes.NewReader(v.value))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyName(v.section, SecretKey), err)
		}
		return f, nil
	case AuthMap:
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var b strings.Builder
		for _, k := range keys {
			name := keyName(vals[k].section, k)
			if err := htpasswd.ValidateUser(k); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			hash := strings.TrimRight(string(vals[k].value), "\r\n")
			if strings.ContainsAny(hash, ":\r\n") {
				return nil, fmt.Errorf("%s: value is not a single hash", name)
			}
			b.WriteString(k + ":" + hash + "\n")
		}
		return htpasswd.Parse(strings.NewReader(b.String()))
	}
	return nil, fmt.Errorf("unknown secret format %q (want auth-file or auth-map)", string(format))
}

// SetFile stores f in format ("" means s.Format()), replacing the previous
// htpasswd data in `data`; stringData copies of those keys are removed so the
// two cannot disagree. For AuthMap every other key is replaced, and a user
// name that cannot be a key is an error wrapping ErrUserNotInMap.
func (s *Secret) SetFile(f *htpasswd.File, format SecretFormat) error {
	if format == "" {
		format = s.Format()
	}
	data := get(s.root, "data")
	if data == nil || data.Kind != yaml.MappingNode {
		data = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		set(s.root, "data", data)
	}
	sd := get(s.root, "stringData")
	switch format {
	case AuthFile:
		set(data, SecretKey, str(base64.StdEncoding.EncodeToString(f.Bytes())))
		if sd != nil {
			del(sd, SecretKey)
		}
	case AuthMap:
		entries := f.Entries()
		for _, e := range entries {
			if !secretKeyRE.MatchString(e.User) {
				return fmt.Errorf("user %q: %w", e.User, ErrUserNotInMap)
			}
		}
		slices.SortFunc(entries, func(a, b htpasswd.Entry) int { return strings.Compare(a.User, b.User) })
		data.Content = nil
		for _, e := range entries {
			data.Content = append(data.Content, str(e.User), str(base64.StdEncoding.EncodeToString([]byte(e.Hash))))
		}
		if sd != nil {
			sd.Content = nil
		}
	default:
		return fmt.Errorf("unknown secret format %q (want auth-file or auth-map)", string(format))
	}
	if sd != nil && len(sd.Content) == 0 {
		del(s.root, "stringData")
	}
	return nil
}

// UpdateSecretFile edits the users of the Secret manifest at path as Update
// edits an htpasswd file: under an exclusive flock on path+".lock", it reads
// the manifest, calls fn with its users in format ("" for the format it
// has), stores them back with SetFile and replaces the file atomically with
// the manifest as Marshal writes it, keeping the file's mode, owner and
// group as WriteFileAtomic does. If fn or anything else fails, the file is
// left as it was. Concurrent edits of one manifest lose nothing. As with
// Update, path must not be a symbolic link (ErrSymlink).
func UpdateSecretFile(path string, format SecretFormat, fn func(*htpasswd.File) error) error {
	return updateManifest(path, func(data []byte) ([]byte, error) {
		s, err := ParseSecret(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		f, err := s.File(format)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := fn(f); err != nil {
			return nil, err
		}
		if err := s.SetFile(f, format); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return s.Marshal()
	})
}

// serverSide are metadata fields the API server owns; kubectl apply of a
// manifest that carries them fails or fights the server.
var serverSide = []string{"resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink"}

// Marshal encodes the Secret as YAML, or as JSON when it was parsed from
// JSON, without server-side fields and status, so that the result applies
// cleanly. The last-applied-configuration annotation goes too: it holds the
// old data in clear and would be stale.
func (s *Secret) Marshal() ([]byte, error) {
	del(s.root, "status")
	if meta := get(s.root, "metadata"); meta != nil && meta.Kind == yaml.MappingNode {
		for _, k := range serverSide {
			del(meta, k)
		}
		if ann := get(meta, "annotations"); ann != nil && ann.Kind == yaml.MappingNode {
			del(ann, "kubectl.kubernetes.io/last-applied-configuration")
			if len(ann.Content) == 0 {
				del(meta, "annotations")
			}
		}
	}
	if s.json {
		var b bytes.Buffer
		if err := writeJSON(&b, s.root, ""); err != nil {
			return nil, err
		}
		b.WriteByte('\n')
		return b.Bytes(), nil
	}
	quoteForYAML11(s.root)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(s.root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// quoteForYAML11 double-quotes the plain strings under n that YAML 1.1
// (kubectl) would read as something else, so that the manifest written
// means the same to kubectl. (The encoder quotes most of them anyway.)
func quoteForYAML11(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && yaml11Type(n) != "" {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		quoteForYAML11(c)
	}
}

// writeJSON writes a node tree as JSON indented like kubectl (4 spaces),
// keeping key order.
func writeJSON(b *bytes.Buffer, n *yaml.Node, indent string) error {
	const step = "    "
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteString("{\n")
		for i := 0; i+1 < len(n.Content); i += 2 {
			b.WriteString(indent + step)
			writeJSONString(b, n.Content[i].Value)
			b.WriteString(": ")
			if err := writeJSON(b, n.Content[i+1], indent+step); err != nil {
				return err
			}
			if i+2 < len(n.Content) {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteString("[\n")
		for i, c := range n.Content {
			b.WriteString(indent + step)
			if err := writeJSON(b, c, indent+step); err != nil {
				return err
			}
			if i+1 < len(n.Content) {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			v, err := strconv.ParseBool(n.Value)
			if err != nil {
				return fmt.Errorf("line %d: bad boolean", n.Line)
			}
			b.WriteString(strconv.FormatBool(v))
		case "!!int", "!!float":
			if !json.Valid([]byte(n.Value)) {
				return fmt.Errorf("line %d: number not valid in JSON", n.Line)
			}
			b.WriteString(n.Value)
		default:
			writeJSONString(b, n.Value)
		}
	default:
		return fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always encodes
	b.Write(enc)
}

// Node helpers. Mapping nodes hold keys and values alternately in Content.

func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// set sets key's value: in place of its first occurrence, removing any
// other (ParseSecret refuses duplicate keys; this holds without it).
func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			rest := &yaml.Node{Kind: yaml.MappingNode, Content: m.Content[i+2:]}
			del(rest, key)
			m.Content = append(m.Content[:i+2], rest.Content...)
			return
		}
	}
	m.Content = append(m.Content, str(key), v)
}

// del removes every occurrence of key.
func del(m *yaml.Node, key string) {
	if m == nil || m.Kind != yaml.MappingNode {
		return
	}
	kept := m.Content[:0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != key {
			kept = append(kept, m.Content[i], m.Content[i+1])
		}
	}
	m.Content = kept
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func str(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func mapping(kv ...string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, s := range kv {
		m.Content = append(m.Content, str(s))
	}
	return m
}

func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}

// GroupsKey is the key of a group file (see htpasswd.Groups) in a Secret of the
// auth-file format, beside "auth". Mounted as a directory, the Secret gives
// the service both files. An auth-map Secret cannot hold one: every key of
// it is a user.
const GroupsKey = "groups"

// ErrGroupsInAuthMap: a group file asked of an auth-map Secret.
var ErrGroupsInAuthMap = errors.New(`an auth-map Secret has a key per user and no room for a "groups" key; use the auth-file format`)

// htpasswd.Groups returns the Secret's group file; none yet is an empty one.
func (s *Secret) Groups() (*htpasswd.Groups, error) {
	if s.Format() != AuthFile {
		return nil, ErrGroupsInAuthMap
	}
	v, ok := s.values()[GroupsKey]
	if !ok {
		return &htpasswd.Groups{}, nil
	}
	g, err := htpasswd.ParseGroups(bytes.NewReader(v.value))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyName(v.section, GroupsKey), err)
	}
	return g, nil
}

// SetGroups stores g under GroupsKey in data; a stringData copy is removed
// so that the two cannot disagree.
func (s *Secret) SetGroups(g *htpasswd.Groups) error {
	if s.Format() != AuthFile {
		return ErrGroupsInAuthMap
	}
	data := get(s.root, "data")
	if data == nil || data.Kind != yaml.MappingNode {
		data = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		set(s.root, "data", data)
	}
	set(data, GroupsKey, str(base64.StdEncoding.EncodeToString(g.Bytes())))
	if sd := get(s.root, "stringData"); sd != nil {
		del(sd, GroupsKey)
		if len(sd.Content) == 0 {
			del(s.root, "stringData")
		}
	}
	return nil
}

// UpdateSecretGroups edits the group file of the Secret manifest at path
// under the same lock and atomic write as UpdateSecretFile.
func UpdateSecretGroups(path string, fn func(*htpasswd.Groups) error) error {
	return updateManifest(path, func(data []byte) ([]byte, error) {
		s, err := ParseSecret(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		g, err := s.Groups()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := fn(g); err != nil {
			return nil, err
		}
		if err := s.SetGroups(g); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return s.Marshal()
	})
}

// updateManifest is htpasswd.UpdateFile for a manifest: the same lock and
// atomic write, at most MaxSecretSize read.
func updateManifest(path string, edit func([]byte) ([]byte, error)) error {
	err := htpasswd.UpdateFile(path, false, MaxSecretSize, edit)
	if errors.Is(err, htpasswd.ErrTooLarge) {
		return fmt.Errorf("%s: %w", path, ErrSecretTooLarge)
	}
	return err
}

// TokensKey is the key of authreq's API tokens file in a Secret of the
// auth-file format, beside "auth" (and "groups").
const TokensKey = "tokens"

// Data returns the value of key (data decoded, or stringData), and whether
// the Secret has it. Keys of an auth-map Secret are users: asking one for
// another key is ErrGroupsInAuthMap's sibling, refused.
func (s *Secret) Data(key string) ([]byte, bool, error) {
	if s.Format() != AuthFile {
		return nil, false, fmt.Errorf("an auth-map Secret has a key per user and no room for a %q key; use the auth-file format", key)
	}
	v, ok := s.values()[key]
	return v.value, ok, nil
}

// SetData stores value under key in data; a stringData copy is removed so
// that the two cannot disagree.
func (s *Secret) SetData(key string, value []byte) error {
	if s.Format() != AuthFile {
		return fmt.Errorf("an auth-map Secret has a key per user and no room for a %q key; use the auth-file format", key)
	}
	data := get(s.root, "data")
	if data == nil || data.Kind != yaml.MappingNode {
		data = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		set(s.root, "data", data)
	}
	set(data, key, str(base64.StdEncoding.EncodeToString(value)))
	if sd := get(s.root, "stringData"); sd != nil {
		del(sd, key)
		if len(sd.Content) == 0 {
			del(s.root, "stringData")
		}
	}
	return nil
}

// UpdateSecretData edits the value of key in the Secret manifest at path
// under the same lock and atomic write as UpdateSecretFile; fn gets nil
// when the key is not there yet.
func UpdateSecretData(path, key string, fn func([]byte) ([]byte, error)) error {
	return updateManifest(path, func(data []byte) ([]byte, error) {
		s, err := ParseSecret(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		v, _, err := s.Data(key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out, err := fn(v)
		if err != nil {
			return nil, err
		}
		if err := s.SetData(key, out); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return s.Marshal()
	})
}

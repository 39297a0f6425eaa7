package htpasswd

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

// ParseSecret decodes a Secret manifest in YAML or JSON, as `kubectl get
// secret -o yaml|json` prints it, with htpasswd data in `data` (base64) or
// `stringData`. Errors name the key (`data.auth: invalid base64`), never a
// value.
func ParseSecret(data []byte) (*Secret, error) {
	if len(data) > MaxFileSize {
		return nil, ErrTooLarge
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
			if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s: entry %d: keys and values must be strings", section, i/2+1)
			}
			if section == "data" {
				if _, err := base64.StdEncoding.Strict().DecodeString(v.Value); err != nil {
					return nil, fmt.Errorf("data.%s: invalid base64", k.Value)
				}
			}
		}
	}
	return s, nil
}

// NewSecret makes a Secret of type Opaque named name (namespace optional)
// holding f in format.
func NewSecret(name, namespace string, f *File, format SecretFormat) (*Secret, error) {
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

// values merges data (decoded) and stringData; stringData wins, as on the
// API server.
func (s *Secret) values() map[string][]byte {
	out := make(map[string][]byte)
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
			out[m.Content[i].Value] = v
		}
	}
	return out
}

// File returns the htpasswd content in format ("" means s.Format()).
func (s *Secret) File(format SecretFormat) (*File, error) {
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
		f, err := Parse(bytes.NewReader(v))
		if err != nil {
			return nil, fmt.Errorf("data.%s: %w", SecretKey, err)
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
			if err := ValidateUser(k); err != nil {
				return nil, fmt.Errorf("data.%s: %w", k, err)
			}
			hash := strings.TrimRight(string(vals[k]), "\r\n")
			if strings.ContainsAny(hash, ":\r\n") {
				return nil, fmt.Errorf("data.%s: value is not a single hash", k)
			}
			b.WriteString(k + ":" + hash + "\n")
		}
		return Parse(strings.NewReader(b.String()))
	}
	return nil, fmt.Errorf("unknown secret format %q (want auth-file or auth-map)", string(format))
}

// SetFile stores f in format ("" means s.Format()), replacing the previous
// htpasswd data in `data`; stringData copies of those keys are removed so the
// two cannot disagree. For AuthMap every other key is replaced, and a user
// name that cannot be a key is an error wrapping ErrUserNotInMap.
func (s *Secret) SetFile(f *File, format SecretFormat) error {
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
		slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.User, b.User) })
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
func UpdateSecretFile(path string, format SecretFormat, fn func(*File) error) error {
	return update(path, false, MaxFileSize, func(data []byte) ([]byte, error) {
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

func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, str(key), v)
}

func del(m *yaml.Node, key string) {
	if m == nil || m.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
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

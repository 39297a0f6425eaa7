package k8s

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/authreq/authreq/htpasswd"
)

// kubectl reads a manifest as YAML 1.1, into a map: of duplicate keys the
// last wins, `<<` keys are merged, a `!!binary` key is decoded, plain `on`
// is the boolean true. (Checked with `kubectl annotate --local -f FILE x=y
// -o json`, which prints what kubectl would apply.) A manifest that kubectl
// reads otherwise than htpw must be refused: else htpw lists, verifies and
// edits users that are not the ones kubectl applies.

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

const secretHead = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"

// Each manifest makes kubectl apply a Secret whose auth holds mallory,
// where a lenient reading sees alice only.
var hiddenUser = map[string]string{
	"duplicate data section": secretHead +
		"data:\n  auth: " + b64(aliceLine) + "\ndata:\n  auth: " + b64(aliceLine+malloryLine) + "\n",
	"duplicate key": secretHead +
		"data:\n  auth: " + b64(aliceLine) + "\n  auth: " + b64(aliceLine+malloryLine) + "\n",
	"duplicate key, quoted": secretHead +
		"data:\n  auth: " + b64(aliceLine) + "\n  \"auth\": " + b64(aliceLine+malloryLine) + "\n",
	"merge key": secretHead +
		"<<: {stringData: {auth: \"" + strings.TrimSpace(malloryLine) + "\"}}\ndata:\n  auth: " + b64(aliceLine) + "\n",
	"quoted merge key": secretHead +
		"\"<<\": {stringData: {auth: \"" + strings.TrimSpace(malloryLine) + "\"}}\ndata:\n  auth: " + b64(aliceLine) + "\n",
	"binary-tagged key": secretHead +
		"data:\n  auth: " + b64(aliceLine) + "\nstringData:\n  !!binary YXV0aA==: \"" + strings.TrimSpace(malloryLine) + "\"\n",
	// auth-map: kubectl makes the keys "true" and "1000"; y and on collide.
	"yaml 1.1 boolean key": secretHead + "stringData:\n  y: '{SHA}x'\n  on: '{SHA}y'\n",
	"yaml 1.1 number key":  secretHead + "stringData:\n  0x1F: '{SHA}x'\n",
	"duplicate in JSON": `{"apiVersion": "v1", "kind": "Secret", "data": {"auth": "` + b64(aliceLine) +
		`"}, "data": {"auth": "` + b64(aliceLine+malloryLine) + `"}}`,
	"binary value":           secretHead + "stringData:\n  auth: !!binary " + b64(aliceLine+malloryLine) + "\n",
	"boolean value":          secretHead + "data:\n  auth: true\n",
	"duplicate metadata key": "apiVersion: v1\nkind: Secret\nkind: ConfigMap\nmetadata: {name: s}\n",
}

func TestSecretRefusesWhatKubectlReadsOtherwise(t *testing.T) {
	for name, m := range hiddenUser {
		t.Run(name, func(t *testing.T) {
			s, err := ParseSecret([]byte(m))
			if err == nil {
				f, _ := s.File("")
				t.Fatalf("accepted; htpw sees users %q", users(f))
			}
			if strings.Contains(err.Error(), "mallory") || strings.Contains(err.Error(), b64(aliceLine)) {
				t.Errorf("error quotes a value: %v", err)
			}
			t.Log(err)
		})
	}
	// What kubectl reads as we do stays accepted: quoted keys and values,
	// an explicit !!str, anchors without aliases, the keys of a
	// kubectl-printed manifest ("f:data", ".").
	for _, m := range []string{
		secretHead + "stringData:\n  \"y\": '{SHA}x'\n  'on': !!str yes\n  \"0x1F\": '{SHA}y'\n",
		secretHead + "data:\n  auth: &a " + b64(aliceLine) + "\n",
		secretHead + "data:\n  auth: " + b64(aliceLine) + "\nx:\n  f:data:\n    .: {}\n    f:auth: {}\n",
	} {
		if _, err := ParseSecret([]byte(m)); err != nil {
			t.Errorf("ParseSecret(%q): %v", m, err)
		}
	}
}

// Were duplicate keys accepted, reading would take one and SetFile write
// another: htpw would report a delete done that kubectl never applies.
func TestSecretDuplicateKeyCannotLoseEdit(t *testing.T) {
	m := secretHead + "data:\n  auth: " + b64(aliceLine) + "\n  auth: " + b64(aliceLine+malloryLine) + "\n"
	if _, err := ParseSecret([]byte(m)); err == nil || !strings.Contains(err.Error(), `key "auth" again`) {
		t.Fatalf("duplicate auth keys: %v", err)
	}
	// And set and del, belt and braces, replace or remove every copy.
	s := mustSecret(t, "secret-kubectl.yaml")
	data := get(s.root, "data")
	data.Content = append(data.Content, str(SecretKey), str(b64(aliceLine+malloryLine)))
	f, _ := s.File("")
	f.Delete("mallory")
	if err := s.SetFile(f, AuthFile); err != nil {
		t.Fatal(err)
	}
	out, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(out), "auth:") != 1 {
		t.Errorf("SetFile left a second auth key:\n%s", out)
	}
	del(data, SecretKey)
	data.Content = append(data.Content, str("x"), str(""), str(SecretKey), str(""), str(SecretKey), str(""))
	del(data, SecretKey)
	if get(data, SecretKey) != nil || len(data.Content) != 2 {
		t.Errorf("del left %d nodes", len(data.Content))
	}
}

// A manifest's keys reach error messages quoted, never raw: they may hold
// terminal escapes. And the error names the section the key is in.
func TestSecretErrorsEscapeKeys(t *testing.T) {
	for _, tt := range []struct{ manifest, want string }{
		{secretHead + "data:\n  \"\\e]0;owned\\a\\e[2J\": \"!!\"\n", `data["\x1b]0;owned\a\x1b[2J"]`},
		{secretHead + "stringData:\n  \"x\\e[2K\\r\": \"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\"\n", `stringData["x\x1b[2K\r"]`},
		{secretHead + "stringData:\n  \"adm\\u202euser\": \"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\"\n", `stringData["adm\u202euser"]`},
		{secretHead + "metadata2:\n  \"\\e[2J\": 1\n  \"\\e[2J\": 2\n", `key "\x1b[2J" again`},
		{secretHead + "stringData:\n  auth: \"no colon\"\n", `stringData["auth"]: line 1`},
	} {
		s, err := ParseSecret([]byte(tt.manifest))
		if err == nil {
			_, err = s.File("")
		}
		if err == nil {
			t.Errorf("%q accepted", tt.manifest)
			continue
		}
		if strings.ContainsAny(err.Error(), "\x1b\a\r\u202e") {
			t.Errorf("error carries raw control characters from the manifest: %q", err.Error())
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %q, want %q", err.Error(), tt.want)
		}
	}
	// auth-map: a user name a key cannot be, in stringData.
	s, err := ParseSecret([]byte(secretHead + "stringData:\n  bob: \"{SHA}x:y\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.File(AuthMap); err == nil || !strings.Contains(err.Error(), `stringData["bob"]: value is not a single hash`) {
		t.Errorf("auth-map error: %v", err)
	}
}

// Our own manifests mean the same to kubectl: user names that YAML 1.1
// reads as booleans or numbers are quoted as auth-map keys.
func TestSecretMarshalQuotesForKubectl(t *testing.T) {
	f, _ := htpasswd.Parse(strings.NewReader("y:{SHA}x\n1_23:{SHA}x\non:{SHA}x\n0x1F:{SHA}x\n.5:{SHA}x\nalice:{SHA}x\n"))
	s, err := NewSecret("s", "", f, AuthMap)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSecret(out)
	if err != nil {
		t.Fatalf("our own manifest refused: %v\n%s", err, out)
	}
	bf, _ := back.File(AuthMap)
	if users(bf) != ".5,0x1F,1_23,alice,on,y" {
		t.Errorf("users %q", users(bf))
	}
	for _, k := range []string{`"y":`, `"1_23":`, `"on":`, `"0x1F":`, `".5":`, "\n  alice:"} {
		if !strings.Contains(string(out), k) {
			t.Errorf("output lacks %s:\n%s", k, out)
		}
	}
}

const (
	aliceLine   = "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"
	malloryLine = "mallory:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"
)

func setUser(user, hash string) func(*htpasswd.File) error {
	return func(f *htpasswd.File) error { _, err := f.Set(user, hash); return err }
}

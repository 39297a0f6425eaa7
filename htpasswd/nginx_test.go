package htpasswd

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/authreq/authreq/internal/realtest"
)

// Lines at the edges of the format, checked by real nginx auth_basic (which
// checks crypt hashes with libxcrypt on Debian) and by this package. Where
// the two differ, it is on purpose and on the safe side: we refuse what
// nginx accepts, never the reverse, and why says why.
func TestHashesAsNginx(t *testing.T) {
	sum := sha1.Sum([]byte("pw"))
	sha := "{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
	cases := []struct {
		name, line, user, pw string
		nginx, ours          bool
		why                  string // when they differ
	}{
		// $2a$ as libxcrypt computes it, with crypt_blowfish's safety
		// twist for this password (see bcrypt.go); and the untwisted
		// digest under a $2a$ label, as Go tools write it.
		{"2a-libxcrypt", "u1:$2a$05$/OK.fbVrR/bpIqNJ5ianF.nqd1wy.pTMdcvrRWxyiGL2eMz.2a85.", "u1", "\xff\xff\xa3", true, true, ""},
		{"2a-go-label", "u2:$2a$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", "u2", "\xff\xff\xa3", false, false, ""},
		{"2x", "u3:$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", "u3", "\xff\xff\xa3", true, false,
			"$2x$ is crypt_blowfish's old sign-extension bug, kept for hashes from before 2011, under which many passwords share one hash: not supported, the user never logs in, lint says unknown scheme"},
		// {SSHA} without a salt is {SHA} by another name.
		{"ssha-no-salt", "u4:{SSHA}" + base64.StdEncoding.EncodeToString(sum[:]), "u4", "pw", true, true, ""},
		{"nul-in-password", "u5:" + sha, "u5", "pw\x00junk", true, false,
			"nginx reads the password up to the NUL and matches \"pw\"; a password with a NUL byte never matches here"},
		{"cr-inside-line", "u6:" + sha + "\rjunk", "u6", "pw", true, false,
			"nginx ends the hash at a CR; here the CR is part of it, which makes it malformed (lint names the line): a CR inside a line hides text on a terminal"},
		{"plain-nul-in-hash", "u7:{PLAIN}pw\x00junk", "u7", "pw", true, false,
			"nginx compares C strings and reads the hash up to the NUL; here a {PLAIN} hash with a NUL or CR is malformed (lint names the line)"},
		// nginx checks apr1 itself and takes any salt bytes but '$';
		// libxcrypt refuses a $1$ salt outside the crypt alphabet.
		{"apr1-salt-outside-alphabet", "u8:$apr1$a!b$" + string(md5Crypt([]byte("pw"), []byte("$apr1$"), []byte("a!b"))), "u8", "pw", true, true, ""},
		{"md5-salt-outside-alphabet", "u9:$1$a!b$" + string(md5Crypt([]byte("pw"), []byte("$1$"), []byte("a!b"))), "u9", "pw", false, false, ""},
		{"sha256-empty-salt", "u10:$5$$EPxZX4DoQWu4KoghxUArtr9dmHmQzOXFqq.aJMdG0bA", "u10", "pw", true, true, ""},
		{"md5-empty-salt", "u11:$1$$F0Fc2lbYpzr3KKdKkM0Wj.", "u11", "pw", true, true, ""},
	}
	dir := t.TempDir()
	var file bytes.Buffer
	for _, c := range cases {
		file.WriteString(c.line + "\n")
	}
	path := filepath.Join(dir, "htpasswd")
	must(t, os.WriteFile(path, file.Bytes(), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte("ok\n"), 0o644))
	f, err := Parse(bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	n := realtest.StartNginx(t, fmt.Sprintf(`server {
  listen 127.0.0.1:{{PORT}};
  location / { auth_basic "t"; auth_basic_user_file %s; root %s; }
}`, path, dir))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", n.URL+"/", nil)
			req.SetBasicAuth(c.user, c.pw)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			nginx := resp.StatusCode == http.StatusOK
			e, _ := f.Lookup(c.user)
			ours := e.Parsed != nil && e.Parsed.Verify([]byte(c.pw))
			if nginx != c.nginx {
				t.Errorf("nginx accepts: %v, want %v", nginx, c.nginx)
			}
			if ours != c.ours {
				t.Errorf("accepted here: %v, want %v (hash error: %v)", ours, c.ours, e.HashErr)
			}
			if (c.nginx != c.ours) != (c.why != "") {
				t.Error("a difference needs a why, an agreement none")
			}
			if c.ours && !c.nginx {
				t.Error("the table lets in here what nginx refuses")
			}
		})
	}
}

// A password with a NUL byte matches no hash of any scheme, though its
// part before the NUL would (DES crypt reads only that part anyway).
func TestPasswordWithNULNeverMatches(t *testing.T) {
	for _, g := range goldenHashes {
		for _, pw := range []string{g.password + "\x00", g.password + "\x00junk"} {
			if Verify(g.hash, []byte(pw)) {
				t.Errorf("%s: %q matches", g.scheme, pw)
			}
		}
	}
}

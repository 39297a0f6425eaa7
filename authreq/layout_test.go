package authreq

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/authreq/authreq/"

// The packages under authreq/ import only downwards: identity imports no
// package of ours, no user store imports another, and nothing but cmd/
// imports the service package itself. A new store is then one directory
// that needs nothing but identity (and its own helpers).
func TestImportsPointDown(t *testing.T) {
	stores := []string{"authreq/htfile", "authreq/ldapauth", "authreq/tokens", "authreq/mlflowdb"}
	dirs, _ := filepath.Glob("*")
	for _, d := range dirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() || d == "testdata" {
			continue
		}
		pkg := "authreq/" + d
		for _, imp := range imports(t, d) {
			switch {
			case imp == "authreq":
				t.Errorf("%s imports the service package", pkg)
			case pkg == "authreq/identity":
				t.Errorf("identity imports %s: it must depend on the standard library only", imp)
			case slices.Contains(stores, pkg) && slices.Contains(stores, imp):
				t.Errorf("store %s imports store %s", pkg, imp)
			}
		}
	}
}

// imports lists the project packages the non-test files of dir import,
// relative to the module.
func imports(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range af.Imports {
			if p, ok := strings.CutPrefix(strings.Trim(is.Path.Value, `"`), module); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

package authreq

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/authreq/authreq/internal/configdoc"
)

//go:generate go test -run ^TestConfigReference$ -update-config-doc .

var updateConfigDoc = flag.Bool("update-config-doc", false, "rewrite docs/config.md from the config structs")

// configDocPath is the generated reference, relative to this package.
var configDocPath = filepath.Join("..", "docs", "config.md")

func configReference(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	err := configdoc.Write(&b, configdoc.Doc{
		Title: "Configuration reference",
		Intro: "<!-- Generated from the config structs by `go generate ./authreq`; edit their comments, not this file. -->\n\n" +
			"The YAML file given with `authreq --config FILE`. Every key is optional; the defaults are those of the table. " +
			"The file is strict: an unknown key is an error naming it and its line. " +
			"Durations are Go durations (`90s`, `5m`, `24h`); a bare `0` turns off. " +
			"A flag beats the environment, which beats the file (`authreq --help` lists flags and variables); " +
			"`authreq check-config --config FILE` validates a file.",
		Defaults:  DefaultConfig(),
		ModuleDir: "..",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The committed reference is the one the structs generate now.
func TestConfigReference(t *testing.T) {
	want := configReference(t)
	if *updateConfigDoc {
		if err := os.WriteFile(configDocPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(configDocPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/config.md is stale: the config structs changed. Refresh it with\n\tgo generate ./authreq\n(or: go test ./authreq -run '^TestConfigReference$' -update-config-doc) and commit it.")
	}
}

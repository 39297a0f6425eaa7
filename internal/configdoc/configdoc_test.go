package configdoc_test

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/authreq/authreq/internal/configdoc"
	"github.com/authreq/authreq/internal/configdoc/internal/fixture"
)

var update = flag.Bool("update", false, "rewrite testdata/fixture.md")

// The fixture's reference: keys of inline, anonymous, pointer and list
// fields, defaults of every kind, comments of both places, and the keys
// that must not show (yaml:"-", unexported).
func TestWrite(t *testing.T) {
	var b bytes.Buffer
	if err := configdoc.Write(&b, configdoc.Doc{Title: "Fixture", Intro: "Intro.", Defaults: fixture.Defaults(), ModuleDir: "../.."}); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/fixture.md"
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("reference differs from %s (go test -update rewrites it):\n%s", golden, b.Bytes())
	}
}

func TestWriteNeedsAStructPointer(t *testing.T) {
	if err := configdoc.Write(&bytes.Buffer{}, configdoc.Doc{Defaults: fixture.Config{}, ModuleDir: "../.."}); err == nil {
		t.Error("a struct value, not a pointer: no error")
	}
}

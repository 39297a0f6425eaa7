package htpasswd

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseGroups(t *testing.T) {
	in := "# teams\r\nadmins: root alice\n\n  analysts :ann  bob\t carol\nadmins: dave alice\nempty:\nlast: zed"
	g, err := ParseGroups(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if string(g.Bytes()) != in {
		t.Errorf("round trip:\n%q", g.Bytes())
	}
	want := map[string][]string{"admins": {"root", "alice", "dave"}, "analysts": {"ann", "bob", "carol"}, "empty": {}, "last": {"zed"}}
	if got := g.Members(); !reflect.DeepEqual(got, want) {
		t.Errorf("members %v", got)
	}
	if got := g.Of()["alice"]; !reflect.DeepEqual(got, []string{"admins"}) {
		t.Errorf("alice: %v", got)
	}
	for _, tt := range []struct{ in, err string }{
		{"a: b\nno colon\n", "line 2: not a comment and no ':'"},
		{": bob\n", "line 1: invalid group name: empty"},
		{"a b: c\n", "line 1: invalid group name"},
		{"g: \"al ice\"\n", "line 1: invalid user name"},
		{"g: a\x01b\n", "line 1: invalid user name"},
		{"g: a:b\n", "line 1: invalid user name"},
	} {
		_, err := ParseGroups(strings.NewReader(tt.in))
		var pe *ParseError
		if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &pe) {
			t.Errorf("%q: %v, want %q", tt.in, err, tt.err)
		}
	}
}

func TestEditGroups(t *testing.T) {
	g, _ := ParseGroups(strings.NewReader("# c\nadmins: root\nadmins: alice\nops:\nlast: x"))
	for _, step := range []struct {
		add         bool
		group, user string
		changed     bool
	}{
		{true, "admins", "alice", false},
		{true, "admins", "bob", true},
		{true, "ops", "carol", true},
		{true, "new", "dave", true},
		{false, "admins", "alice", true},
		{false, "admins", "alice", false},
		{false, "last", "x", true},
	} {
		var changed bool
		if step.add {
			changed, _ = g.Add(step.group, step.user)
		} else {
			changed = g.Remove(step.group, step.user)
		}
		if changed != step.changed {
			t.Errorf("%+v: changed %v", step, changed)
		}
	}
	if got, want := string(g.Bytes()), "# c\nadmins: root bob\nops: carol\nnew: dave\n"; got != want {
		t.Errorf("%q\nwant %q", got, want)
	}
	if _, err := g.Add("g", "al ice"); err == nil {
		t.Error("member with a space accepted")
	}
	if _, err := g.Add("a b", "x"); err == nil {
		t.Error("group with a space accepted")
	}
}

func FuzzParseGroups(f *testing.F) {
	f.Add("admins: a b\n# x\n\ng:\n")
	f.Fuzz(func(t *testing.T, in string) {
		g, err := ParseGroups(strings.NewReader(in))
		if err != nil {
			return
		}
		if string(g.Bytes()) != in {
			t.Fatalf("round trip %q", in)
		}
		for group, users := range g.Members() {
			if ValidateGroup(group) != nil {
				t.Fatalf("group %q", group)
			}
			for _, u := range users {
				if validMember(u) != nil {
					t.Fatalf("member %q", u)
				}
			}
		}
		// An edit gives a file that parses to what was asked.
		if ok, err := g.Add("fuzz", "member"); err == nil && ok {
			again, err := ParseGroups(strings.NewReader(string(g.Bytes())))
			if err != nil || !contains(again.Members()["fuzz"], "member") {
				t.Fatalf("after Add: %v %v", err, again)
			}
		}
	})
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

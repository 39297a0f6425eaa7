package main

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestGroupCommands(t *testing.T) {
	h := newHarness(t)
	g := filepath.Join(h.dir, "groups")
	os.WriteFile(g, []byte("# teams, kept as they are\r\nops: root\n"), 0o640)
	h.want(h.run("", "group", "add", "-g", g, "analysts", "ann", "bob"), 0, "")
	h.want(h.run("", "group", "add", "-g", g, "ops", "ann"), 0, "")
	h.want(h.run("", "group", "remove", "-g", g, "analysts", "bob"), 0, "")
	h.want(h.run("", "group", "remove", "-g", g, "analysts", "nobody"), 0, "")
	b, _ := os.ReadFile(g)
	if want := "# teams, kept as they are\r\nops: root ann\nanalysts: ann\n"; string(b) != want {
		t.Errorf("file %q, want %q", b, want)
	}
	r := h.run("", "group", "list", "-g", g)
	if r.code != 0 || r.stdout != "analysts: ann\nops: root ann\n" {
		t.Errorf("list: %+v", r)
	}
	h.extEnv["HTGROUP_FILE"] = g
	if r := h.run("", "group", "list", "--json"); r.code != 0 || r.stdout != "{\n  \"analysts\": [\n    \"ann\"\n  ],\n  \"ops\": [\n    \"root\",\n    \"ann\"\n  ]\n}\n" {
		t.Errorf("list --json: %+v", r)
	}
	h.want(h.run("", "group", "add", "-g", g, "bad group", "x"), 2, "invalid group name")
	h.want(h.run("", "group", "add", "-g", g, "g", "al ice"), 1, "invalid user name")
	h.want(h.run("", "group", "add", "-g", g, "g"), 2, "need GROUP and at least one USER")
	h.want(h.run("", "group", "list", "-g", filepath.Join(h.dir, "missing")), 1, "no such file")
	os.WriteFile(g, []byte("ops root\n"), 0o640)
	h.want(h.run("", "group", "add", "-g", g, "ops", "x"), 1, "line 1: not a comment and no ':'")
	if b, _ := os.ReadFile(g); string(b) != "ops root\n" {
		t.Errorf("a broken file was edited: %q", b)
	}
	// A new file is created 0640; concurrent edits lose nothing.
	n := filepath.Join(h.dir, "new")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h2 := newHarness(t)
			h2.run("", "group", "add", "-g", n, "team", "u"+string(rune('a'+i)))
		}()
	}
	wg.Wait()
	if fi, err := os.Stat(n); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("new file: %v %v", fi, err)
	}
	r = h.run("", "group", "list", "-g", n)
	if r.code != 0 || len(r.stdout) != len("team:")+20*3+1 {
		t.Errorf("20 concurrent adds: %q", r.stdout)
	}
}

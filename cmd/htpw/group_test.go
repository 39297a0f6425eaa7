package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
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

// The "groups" key of an auth-file Secret, beside "auth": on stdout, in
// place; an auth-map Secret has no room for it.
func TestGroupCommandsOnSecrets(t *testing.T) {
	h := newHarness(t)
	m := filepath.Join(h.dir, "secret.yaml")
	os.WriteFile(m, []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: mlflow-auth\n  resourceVersion: \"7\"\ntype: Opaque\ndata:\n  auth: YWxpY2U6eAo=\n"), 0o600)
	h.want(h.run("", "group", "add", "--secret", m, "--in-place", "analysts", "alice", "bob"), 0, "")
	r := h.run("", "group", "list", "--secret", m)
	if r.code != 0 || r.stdout != "analysts: alice bob\n" {
		t.Errorf("list: %+v", r)
	}
	b, _ := os.ReadFile(m)
	r = h.run(string(b), "group", "remove", "--secret", "-", "analysts", "bob")
	if r.code != 0 || !strings.Contains(r.stdout, "groups: "+base64.StdEncoding.EncodeToString([]byte("analysts: alice\n"))) ||
		!strings.Contains(r.stdout, "auth: YWxpY2U6eAo=") || strings.Contains(r.stdout, "resourceVersion") {
		t.Errorf("remove to stdout: %+v", r)
	}
	if b2, _ := os.ReadFile(m); string(b2) != string(b) {
		t.Error("stdout mode wrote the file")
	}
	authMap := filepath.Join(h.dir, "map.yaml")
	os.WriteFile(authMap, []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: m}\ndata:\n  alice: eA==\n"), 0o600)
	h.want(h.run("", "group", "add", "--secret", authMap, "--in-place", "g", "alice"), 1, "auth-map")
	h.want(h.run("", "group", "add", "--in-place", "g", "alice"), 2, "--in-place needs --secret")
}

package realtest

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestStartRedis(t *testing.T) {
	r := StartRedis(t)
	cli := Need(t, "redis-cli")
	ping := func() (string, error) {
		out, err := exec.Command(cli, "-h", "127.0.0.1", "-p", strconv.Itoa(r.Port), "PING").CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := ping(); err != nil || out != "PONG" {
		t.Fatalf("redis-cli PING: %q %v", out, err)
	}
	r.Kill()
	if tcpUp(r.Addr) {
		t.Fatal("still listening after Kill")
	}
	r.Start()
	if out, err := ping(); err != nil || out != "PONG" {
		t.Fatalf("PING after restart: %q %v", out, err)
	}
	r.Stop()
	if tcpUp(r.Addr) {
		t.Fatal("still listening after Stop")
	}
}

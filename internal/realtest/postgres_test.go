package realtest

import (
	"strconv"
	"strings"
	"testing"
)

func TestStartPostgres(t *testing.T) {
	p := StartPostgres(t)
	p.CreateDB("authreq_test")
	out, err := p.command("psql", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", "postgres", "-d", "authreq_test",
		"-tAc", "SELECT current_database()").CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "authreq_test" {
		t.Fatalf("psql said %q", out)
	}
	p.Stop()
	if tcpUp("127.0.0.1:" + strconv.Itoa(p.Port)) {
		t.Fatal("still listening after Stop")
	}
}

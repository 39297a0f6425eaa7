package realtest

import (
	"io"
	"net/http"
	"testing"
)

func TestStartNginx(t *testing.T) {
	n := StartNginx(t, `server { listen 127.0.0.1:{{PORT}}; location / { return 200 "hello\n"; } }`)
	resp, err := http.Get(n.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "hello\n" {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
}

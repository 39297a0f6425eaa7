package authreq

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/internal/duration"
	"github.com/authreq/authreq/internal/realtest"
	"github.com/redis/go-redis/v9"
)

// Two authreq instances sharing one real Redis, through /auth: failures
// spread over both meet the budget at its configured count; a pair
// trusted on one is trusted on the other; with Redis killed both keep
// limiting guesses on their own, admit right passwords and cached users,
// and say so in /readyz and /metrics; once Redis is back they share again.
func TestRedisReplicas(t *testing.T) {
	rd := realtest.StartRedis(t)
	key := filepath.Join(t.TempDir(), "throttle-key")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	users := map[string]string{"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
	var replicas []*testServer
	for range 2 {
		s := newTestServer(t, users, func(c *Config) {
			c.RateLimit.Store.Redis.Address = rd.Addr
			c.RateLimit.Store.Redis.HMACKeyFile = key
			c.RateLimit.Store.Redis.Timeout = duration.Duration(time.Second) // -race on a busy machine
		})
		replicas = append(replicas, s)
	}
	a, b := replicas[0], replicas[1]
	send := func(s *testServer, ip, user, pw string) *http.Response {
		resp := s.from(ip, user, pw)
		s.throttle.Flush() // the outcome, sent after the answer, has landed
		return resp
	}
	throttled := func(r *http.Response) bool { return r.StatusCode == 401 && r.Header.Get("Retry-After") != "" }
	ready := func(s *testServer, path string) (int, readiness) {
		resp := s.do("GET", path, nil)
		var body readiness
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		return resp.StatusCode, body
	}

	// Five wrong passwords over both replicas; the sixth is refused
	// unchecked on either, right password or not.
	for i := range 5 {
		if r := send(replicas[i%2], "198.51.100.1", "alice", fmt.Sprint("wrong-", i)); r.StatusCode != 401 || throttled(r) {
			t.Fatalf("failure %d: %d %v", i, r.StatusCode, r.Header)
		}
	}
	for n, s := range replicas {
		if r := send(s, "198.51.100.1", "alice", "alice-pw"); !throttled(r) {
			t.Errorf("replica %d: sixth try after five failures spread over both: %d %v", n, r.StatusCode, r.Header)
		}
	}

	// bob works from 192.0.2.5 (on a); a botnet fills his per-user bound
	// on b; b still lets him in from 192.0.2.5.
	if r := send(a, "192.0.2.5", "bob", "bob-pw"); r.StatusCode != 200 {
		t.Fatalf("bob on a: %d", r.StatusCode)
	}
	for i := range 20 {
		send(b, fmt.Sprint("203.0.113.", i/2), "bob", fmt.Sprint("guess-", i))
	}
	send(b, "203.0.113.100", "bob", "guess") // past the bound: one per step
	if r := send(b, "203.0.113.101", "bob", "bob-pw"); !throttled(r) {
		t.Errorf("bob from a new address past his per-user bound: %d", r.StatusCode)
	}
	if r := send(b, "192.0.2.5", "bob", "bob-pw"); r.StatusCode != 200 {
		t.Errorf("bob on b from the address a trusted: %d %v", r.StatusCode, r.Header)
	}
	if code, body := ready(a, "/readyz?strict=true"); code != 200 || body.ThrottleStore != "ok" {
		t.Errorf("readyz with redis up: %d %+v", code, body)
	}

	// carol logs in on a (now cached there); then Redis dies.
	if r := send(a, "192.0.2.9", "carol", "carol-pw"); r.StatusCode != 200 {
		t.Fatalf("carol: %d", r.StatusCode)
	}
	// The cached path never touches Redis.
	rc := redis.NewClient(&redis.Options{Addr: rd.Addr, DisableIdentity: true})
	defer rc.Close()
	scripts := func() string {
		var calls []string
		for _, l := range strings.Split(rc.Info(context.Background(), "commandstats").Val(), "\n") {
			if strings.HasPrefix(l, "cmdstat_eval") {
				calls = append(calls, strings.SplitN(l, ",", 2)[0])
			}
		}
		return strings.Join(calls, " ")
	}
	before := scripts()
	for range 20 {
		if r := send(a, "192.0.2.9", "carol", "carol-pw"); r.StatusCode != 200 {
			t.Fatalf("carol, cached: %d", r.StatusCode)
		}
	}
	if after := scripts(); after != before || before == "" {
		t.Errorf("cached requests ran scripts in Redis: %q, then %q", before, after)
	}
	rd.Kill()
	if r := send(a, "192.0.2.9", "carol", "carol-pw"); r.StatusCode != 200 {
		t.Errorf("carol, cached, while redis is down: %d", r.StatusCode)
	}
	for n, s := range replicas {
		ip := fmt.Sprint("198.51.100.", 50+n)
		if r := send(s, ip, "carol", "carol-pw"); r.StatusCode != 200 {
			t.Errorf("replica %d: a right password while redis is down: %d", n, r.StatusCode)
		}
		for i := range 5 {
			if r := send(s, ip, "dave", fmt.Sprint("wrong-", i)); r.StatusCode != 401 || throttled(r) {
				t.Errorf("replica %d: failure %d while redis is down: %d %v", n, i, r.StatusCode, r.Header)
			}
		}
		if r := send(s, ip, "dave", "wrong-6"); !throttled(r) {
			t.Errorf("replica %d: guessing not limited while redis is down: %d", n, r.StatusCode)
		}
		code, body := ready(s, "/readyz")
		if code != 200 || body.Status != "degraded" || !strings.HasPrefix(body.ThrottleStore, "degraded: redis "+rd.Addr) {
			t.Errorf("replica %d: readyz while redis is down: %d %+v", n, code, body)
		}
		if code, _ := ready(s, "/readyz?strict=true"); code != 503 {
			t.Errorf("replica %d: strict readyz while redis is down: %d", n, code)
		}
		if v := s.metric("authreq_throttle_store_errors_total"); v == "" || v == "0" {
			t.Errorf("replica %d: store errors %q", n, v)
		}
		if v := s.metric("authreq_throttle_store_up"); v != "0" {
			t.Errorf("replica %d: store up %q", n, v)
		}
	}

	rd.Start()
	for n, s := range replicas {
		realtest.Eventually(t, 5*time.Second, fmt.Sprint("replica ", n, " sharing again"), func() bool {
			_, body := ready(s, "/readyz")
			return body.ThrottleStore == "ok"
		})
	}
	for i := range 5 {
		if r := send(replicas[i%2], "198.51.100.7", "erin", fmt.Sprint("wrong-", i)); r.StatusCode != 401 || throttled(r) {
			t.Fatalf("after the outage, failure %d: %d", i, r.StatusCode)
		}
	}
	if r := send(a, "198.51.100.7", "erin", "x"); !throttled(r) {
		t.Errorf("after the outage the budget is per replica again: %d", r.StatusCode)
	}
}

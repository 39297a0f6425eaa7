package audit

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func checkSame(t *testing.T, rec Record) {
	t.Helper()
	want, err := json.Marshal(&rec)
	if err != nil {
		t.Skip(err) // a NaN latency: encoding/json refuses the record
	}
	if got := rec.appendJSON(nil); string(got) != string(want) {
		t.Errorf("appendJSON\n got %s\nwant %s", got, want)
	}
}

// TestAppendJSONMatchesEncodingJSON: the audit line's encoder writes the
// bytes encoding/json would, escapes and empty fields included.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	for _, rec := range []Record{
		{},
		{Time: time.Date(2026, 11, 30, 8, 0, 0, 123456789, time.UTC), ClientIP: "10.0.0.1", Decision: "allow", Latency: 1.5e-5, CacheHit: true},
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), User: "al\"ice\\", Reason: "<a&b>\n\r\t\b\f\x00\x1f\x7f", URI: "/p?q=1&r=<2>", Latency: 0.25},
		{User: "\xff\xfe bad utf8 \u2028 \u2029 é 日本", Method: "GET", Host: "h", Backend: "ldap", Role: "admin", TokenID: "abc", RequestID: "r1", Latency: 2e21},
		{Latency: 1e-7}, {Latency: 123456789.125}, {Latency: -0.5}, {Latency: 5e-324},
	} {
		checkSame(t, rec)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("alice", "<&>\u2028\xff", 1.5e-5, int64(0))
	f.Add("", "", 0.0, int64(1e18))
	f.Fuzz(func(t *testing.T, user, reason string, lat float64, nanos int64) {
		if math.IsNaN(lat) || math.IsInf(lat, 0) {
			return
		}
		checkSame(t, Record{Time: time.Unix(0, nanos).UTC(), User: user, Reason: reason, URI: user + reason, ClientIP: reason, Decision: user, Latency: lat})
	})
}

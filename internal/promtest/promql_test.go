package promtest

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		name, expr string
		want       Query
	}{
		{"bare", `up`, Query{Selectors: []Selector{{Metric: "up"}}}},
		{"matchers", `a_total{result="error", backend!~"x|y"}`,
			Query{Selectors: []Selector{{Metric: "a_total", Labels: []string{"result", "backend"}}}}},
		{"name matcher", `{__name__="a_total",job="j"}`,
			Query{Selectors: []Selector{{Metric: "a_total", Labels: []string{"job"}}}}},
		{"aggregation before", `sum by (job, le) (rate(h_bucket{job=~"$job"}[$__rate_interval]))`,
			Query{Selectors: []Selector{{Metric: "h_bucket", Labels: []string{"job"}, Func: "rate"}}, Grouping: []string{"job", "le"}, By: []string{"job", "le"}}},
		{"aggregation after", `sum(x) without (instance)`,
			Query{Selectors: []Selector{{Metric: "x", Func: "sum"}}, Grouping: []string{"instance"}}},
		{"quantile", `histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))`,
			Query{Selectors: []Selector{{Metric: "h_bucket", Func: "rate"}}, Grouping: []string{"le"}, By: []string{"le"}}},
		{"binary and offset", `a / ignoring(scope) b offset 1h > bool 0.5 and c == 0`,
			Query{Selectors: []Selector{{Metric: "a"}, {Metric: "b"}, {Metric: "c"}}, Grouping: []string{"scope"}}},
		{"group_left", `a * on (instance) group_left (version) b`,
			Query{Selectors: []Selector{{Metric: "a"}, {Metric: "b"}}, Grouping: []string{"instance", "version"}}},
		{"grafana variables", `rate(a{instance=~"${instance}"}[$__rate_interval]) * $factor`,
			Query{Selectors: []Selector{{Metric: "a", Labels: []string{"instance"}, Func: "rate"}}}},
		{"subquery and numbers", `max_over_time(rate(a[5m])[1h:5m]) > 1e-3`,
			Query{Selectors: []Selector{{Metric: "a", Func: "rate"}}}},
		{"strings are not names", `label_replace(a, "dst", "$1", "src", "(.*)")`,
			Query{Selectors: []Selector{{Metric: "a", Func: "label_replace"}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", c.expr, got, c.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for name, expr := range map[string]string{
		"typo in a function": `rte(a[5m])`,
		"unbalanced":         `sum(rate(a[5m])`,
		"unclosed matcher":   `a{job="x"`,
		"bad matcher":        `a{job}`,
		"no name":            `{job="x"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if q, err := Parse(expr); err == nil {
				t.Errorf("Parse(%q) = %+v, want an error", expr, q)
			}
		})
	}
}

const exposition = `# TYPE a_total counter
a_total{result="allow",backend="htpasswd"} 3
# TYPE g gauge
g 1
# TYPE h histogram
h_bucket{backend="x",le="1"} 1
h_bucket{backend="x",le="+Inf"} 1
h_sum{backend="x"} 0.1
h_count{backend="x"} 1
# TYPE s summary
s{quantile="0.5"} 1
s_sum 1
s_count 1
`

func TestCheck(t *testing.T) {
	e, err := ParseExposition(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, expr, legend, err string // err: "" or a part of the error
	}{
		{"counter", `sum by (result) (rate(a_total{backend="htpasswd",job="j"}[5m]))`, "{{result}}", ""},
		{"histogram", `histogram_quantile(0.5, sum by (le, backend) (rate(h_bucket[5m])))`, "{{ backend }}", ""},
		{"histogram count", `rate(h_count[5m]) / rate(h_sum[5m])`, "", ""},
		{"summary", `s{quantile="0.5"} + rate(s_count[5m])`, "", ""},
		{"target labels", `count by (instance) (g{job="x"})`, "{{instance}}", ""},
		{"unknown metric", `rate(b_total[5m])`, "", "b_total: not exported"},
		{"unknown label", `a_total{status="500"}`, "", `no label "status"`},
		{"bucket label elsewhere", `h_sum{le="1"}`, "", `no label "le"`},
		{"bad grouping", `sum by (scope) (a_total)`, "", `groups by "scope"`},
		{"bad legend", `sum by (result) (a_total)`, "{{backend}}", `shows {{backend}}`},
		{"rate of a gauge", `rate(g[5m])`, "", "a gauge, not a counter"},
		{"histogram by its name", `h`, "", "a histogram"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := e.Check(c.expr, c.legend)
			switch {
			case c.err == "" && err != nil:
				t.Errorf("Check: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("Check: %v, want an error with %q", err, c.err)
			}
		})
	}
}

// The live service: every labelled series the examples use is there, and
// a name it does not export is caught.
func TestLive(t *testing.T) {
	e := Live(t)
	for _, expr := range []string{
		`sum by (result, backend) (rate(authreq_decisions_total{result="error"}[5m]))`,
		`sum by (scope) (rate(authreq_throttled_total[5m]))`,
		`sum by (result) (increase(authreq_reloads_total[5m]))`,
		`histogram_quantile(0.99, sum by (le, backend) (rate(authreq_backend_duration_seconds_bucket[5m])))`,
		`authreq_ldap_pool_open_connections + authreq_ldap_pool_idle_connections + rate(authreq_ldap_dial_errors_total[5m])`,
		`authreq_build_info{version!=""}`,
	} {
		if err := e.Check(expr, ""); err != nil {
			t.Error(err)
		}
	}
	if err := e.Check(`rate(authreq_requests_total[5m])`, ""); err == nil {
		t.Error("a metric authreq does not export passed the check")
	}
}

// Package prometheus tests the alert rules in alerts.yml: promtool accepts
// them and their unit tests pass, each alert has a test where it fires and
// one where it does not, and every series they read is one a running
// authreq exports.
package prometheus

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/authreq/authreq/internal/promtest"
	"github.com/authreq/authreq/internal/realtest"
	"go.yaml.in/yaml/v3"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type unitTests struct {
	Tests []struct {
		Name  string `yaml:"name"`
		Cases []struct {
			Alert     string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestPromtool(t *testing.T) {
	promtool := realtest.Need(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		t.Run(strings.Join(args[:2], "-"), func(t *testing.T) {
			out, err := exec.Command(promtool, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

// Each alert has a unit test in which it fires and one in which it stays
// silent, and every test names an alert that exists.
func TestEveryAlertTestedBothWays(t *testing.T) {
	var rules ruleFile
	var tests unitTests
	readYAML(t, "alerts.yml", &rules)
	readYAML(t, "alerts_test.yml", &tests)
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, c := range tc.Cases {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alert] = true
			} else {
				silent[c.Alert] = true
			}
		}
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			if !fires[r.Alert] {
				t.Errorf("%s: no unit test in which it fires", r.Alert)
			}
			if !silent[r.Alert] {
				t.Errorf("%s: no unit test in which it stays silent", r.Alert)
			}
		}
	}
	for name := range fires {
		if !alerts[name] {
			t.Errorf("alerts_test.yml tests %s, which alerts.yml does not define", name)
		}
	}
	if len(alerts) == 0 {
		t.Fatal("alerts.yml defines no alert")
	}
}

var labelRefRE = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)

// Every metric and label the rules read, and every label their
// annotations show, is one a running authreq exports (or Prometheus adds:
// job, instance).
func TestRulesNameExportedSeries(t *testing.T) {
	var rules ruleFile
	readYAML(t, "alerts.yml", &rules)
	live := promtest.Live(t)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			t.Run(r.Alert, func(t *testing.T) {
				// The annotations' $labels.x as a legend: the labels the
				// result must have.
				var legend strings.Builder
				for _, text := range r.Annotations {
					for _, m := range labelRefRE.FindAllStringSubmatch(text, -1) {
						legend.WriteString("{{" + m[1] + "}}")
					}
				}
				if err := live.Check(r.Expr, legend.String()); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

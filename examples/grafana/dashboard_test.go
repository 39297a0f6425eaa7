// Package grafana tests the dashboard authreq.json: it is a Grafana
// dashboard whose every query reads series a running authreq exports,
// through the one datasource variable the importer chooses.
package grafana

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/authreq/authreq/internal/promtest"
)

// ds is the datasource every panel, query and variable uses: the
// dashboard's datasource variable, so that it imports into any Grafana
// whatever its Prometheus is called.
const ds = "${DS_PROMETHEUS}"

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Legend     string      `json:"legendFormat"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

func load(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("authreq.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("authreq.json: %v", err)
	}
	return d
}

// all lists the panels, those inside collapsed rows included.
func all(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, all(p.Panels)...)
	}
	return out
}

func TestDashboardShape(t *testing.T) {
	d := load(t)
	if d.UID == "" || d.Title == "" {
		t.Error("no uid or title: a second import would make a copy")
	}
	// 39 is Grafana 11's; older schemas are migrated on load and
	// re-saved differently.
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d: want 39 or later", d.SchemaVersion)
	}
	var dsVar bool
	for _, v := range d.Templating.List {
		if v.Name == "DS_PROMETHEUS" {
			var q string
			dsVar = v.Type == "datasource" && json.Unmarshal(v.Query, &q) == nil && q == "prometheus"
		} else if v.Datasource == nil || v.Datasource.UID != ds {
			t.Errorf("variable %s: datasource %+v, want uid %s", v.Name, v.Datasource, ds)
		}
	}
	if !dsVar {
		t.Error("no datasource variable DS_PROMETHEUS of type prometheus")
	}
	ids := map[int]string{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	queries := 0
	for _, p := range all(d.Panels) {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("panels %q and %q overlap at (%d,%d)", other, p.Title, x, y)
					break
				}
				taken[cell{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != ds || p.Datasource.Type != "prometheus" {
			t.Errorf("panel %q: datasource %+v, want the prometheus uid %s", p.Title, p.Datasource, ds)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			if q.Datasource != nil && q.Datasource.UID != ds {
				t.Errorf("panel %q query %s: datasource %s, want %s", p.Title, q.RefID, q.Datasource.UID, ds)
			}
			if q.Expr == "" {
				t.Errorf("panel %q query %s: no expr", p.Title, q.RefID)
			}
		}
	}
	if queries == 0 {
		t.Fatal("no query in the dashboard")
	}
}

// label_values(selector, label), Grafana's variable query.
var labelValuesRE = regexp.MustCompile(`^\s*label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// Every query of every panel and variable reads series a running authreq
// exports, with the labels it matches, groups and shows in legends.
func TestDashboardQueriesNameExportedSeries(t *testing.T) {
	d := load(t)
	live := promtest.Live(t)
	for _, p := range all(d.Panels) {
		for _, q := range p.Targets {
			t.Run(fmt.Sprintf("%s/%s", p.Title, q.RefID), func(t *testing.T) {
				if err := live.Check(q.Expr, q.Legend); err != nil {
					t.Error(err)
				}
			})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		t.Run("variable "+v.Name, func(t *testing.T) {
			var q struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil {
				if err := json.Unmarshal(v.Query, &q.Query); err != nil {
					t.Fatalf("query: %v", err)
				}
			}
			m := labelValuesRE.FindStringSubmatch(q.Query)
			if m == nil {
				t.Fatalf("%q: want label_values(selector, label)", q.Query)
			}
			// The label as a legend: the selector's series must have it.
			if err := live.Check(m[1], "{{"+m[2]+"}}"); err != nil {
				t.Error(err)
			}
		})
	}
}

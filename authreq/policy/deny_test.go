package policy

import (
	"testing"

	"github.com/authreq/authreq/authreq/identity"
)

// Per-resource deny grants that MLflow routes around. Each case
// is a request MLflow serves on the denied resource; the policy must refuse it.
func review4Policy(t *testing.T) *Policy {
	return mustPolicy(t, `
preset: mlflow
defaultPermission: READ
grants:
  - {users: [bob], level: EDIT}
  - {users: [bob], level: NO_PERMISSIONS, experiments: ["7"]}
  - {users: [carol], level: NO_PERMISSIONS, registeredModels: [prod]}
`)
}

var (
	bob   = identity.Identity{User: "bob", Source: "htpasswd"}
	carol = identity.Identity{User: "carol", Source: "htpasswd"}
)

func TestPerResourceDenyBaseline(t *testing.T) {
	p := review4Policy(t)
	for _, tt := range []struct {
		id  identity.Identity
		m   string
		uri string
	}{
		{bob, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=7"},
		{bob, "GET", "/api/2.0/mlflow-artifacts/artifacts/7/r1/artifacts/model.pkl"},
		{bob, "PUT", "/api/2.0/mlflow-artifacts/artifacts/7/r1/artifacts/model.pkl"},
		{bob, "GET", "/api/2.0/mlflow-artifacts/artifacts?path=7/r1"},
		{carol, "GET", "/api/2.0/mlflow/registered-models/get?name=prod"},
	} {
		if d := p.Decide(tt.id, req(tt.m, tt.uri, "m")); d.Allow {
			t.Errorf("baseline %s %s %s: allowed (%s)", tt.id.User, tt.m, tt.uri, d.Reason)
		}
	}
}

// MLflow's SqlAlchemyStore does int(experiment_id): "07", " 7", "7 ", "+7"
// (a '+' in a query is a space), "0_7", "٧" all name experiment 7.
func TestExperimentIDSpellings(t *testing.T) {
	p := review4Policy(t)
	for _, q := range []string{"07", "%207", "7%20", "+7", "0_7", "%D9%A7", "7%0A", "%2B7"} {
		uri := "/api/2.0/mlflow/experiments/get?experiment_id=" + q
		if d := p.Decide(bob, req("GET", uri, "m")); d.Allow {
			t.Errorf("%s: allowed (%s); MLflow reads experiment int(%q) = 7", uri, d.Reason, q)
		}
	}
}

// MLflow's validate_path_is_safe decodes the artifact path until it stops
// changing and turns file: URIs into paths, and the handler uses the result:
// %2537 (one decode: %37) and file:7 are experiment 7's artifacts.
func TestArtifactPathsDecodedAgainByMLflow(t *testing.T) {
	p := review4Policy(t)
	for _, tt := range []struct{ m, uri string }{
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/%2537/r1/artifacts/model.pkl"},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/%2537/r1/artifacts/model.pkl"},
		{"DELETE", "/api/2.0/mlflow-artifacts/artifacts/%2537/r1/artifacts/model.pkl"},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/file:7/r1/artifacts/model.pkl"},
		{"PUT", "/ajax-api/2.0/mlflow-artifacts/artifacts/file:7/r1/artifacts/model.pkl"},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=%2537/r1"},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=file:7/r1"},
		{"POST", "/api/2.0/mlflow-artifacts/mpu/create/%2537/r1/artifacts/big.bin"},
	} {
		if d := p.Decide(bob, req(tt.m, tt.uri, "m")); d.Allow {
			t.Errorf("%s %s: allowed (%s); MLflow serves experiment 7's artifacts", tt.m, tt.uri, d.Reason)
		}
	}
}

// A GET with no query: MLflow reads the message from the JSON body
// (_get_request_message: `GET and flask_request.args` else the body, no
// Content-Type check for GET), which no auth request carries.
func TestGetWithTheIDInTheBody(t *testing.T) {
	p := review4Policy(t)
	for _, tt := range []struct {
		id  identity.Identity
		uri string
	}{
		{carol, "/api/2.0/mlflow/registered-models/get"},           // body {"name":"prod"}
		{carol, "/api/2.0/mlflow/registered-models/get?"},          // same: empty args
		{carol, "/api/2.0/mlflow/model-versions/get-download-uri"}, // body {"name":"prod","version":"1"}
		{bob, "/api/2.0/mlflow/experiments/get"},                   // body {"experiment_id":"7"}
	} {
		if d := p.Decide(tt.id, req("GET", tt.uri, "m")); d.Allow {
			t.Errorf("%s GET %s: allowed (%s); MLflow takes the id from the body", tt.id.User, tt.uri, d.Reason)
		}
	}
}

// Routes that read the denied resource by another id or a filter: the
// per-resource deny is never consulted (global READ/EDIT applies).
func TestOtherRoutesToADeniedResource(t *testing.T) {
	p := review4Policy(t)
	for _, tt := range []struct {
		id     identity.Identity
		m, uri string
	}{
		{carol, "GET", "/api/2.0/mlflow/model-versions/search?filter=name%3D%27prod%27"},
		{carol, "GET", "/api/2.0/mlflow/registered-models/search?filter=name%3D%27prod%27"},
		{bob, "GET", "/api/2.0/mlflow/runs/get?run_id=RUN_IN_EXP_7"},
		{bob, "POST", "/api/2.0/mlflow/runs/log-metric"}, // body run_id of a run in 7
		{bob, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=exp7"},
		{bob, "POST", "/v1/traces"}, // X-Mlflow-Experiment-Id: 7 — the table's header: id_from is never read
	} {
		if d := p.Decide(tt.id, req(tt.m, tt.uri, "m")); d.Allow {
			t.Errorf("%s %s %s: allowed (%s)", tt.id.User, tt.m, tt.uri, d.Reason)
		}
	}
}

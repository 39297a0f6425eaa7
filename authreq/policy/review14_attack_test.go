package policy

// Attacks found by a hostile review of the MLflow 3.16 role rows (commit
// 176ac42). Each test states what MLflow 3.16 would answer with the same
// rows; each FINDING failed before its fix. Tests marked "BLOCKED" passed
// already and add coverage.

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/identity"
)

var reviewBob = identity.Identity{User: "bob", Source: "mlflowdb", Role: "user"}

func reviewGrant(l string, deny bool, exps, models []string, ws string) Grant {
	return Grant{Subjects: Subjects{Users: []string{"bob"}}, Level: l, Deny: deny, Experiments: exps, RegisteredModels: models, Workspaces: []string{ws}}
}

func reviewIn(r Request, ws string) Request { r.Workspace = ws; return r }

// FINDING: model-versions/create needs READ on the source run (routes.tsv:
// "EDIT on the registered model, READ on the source run or model"), but the
// proxy weighs only the registered-model family. A user with EDIT on every
// model and prompt and a DENY on experiment 7 (or on one of its runs, which
// is widened to every experiment) registers a version from a run of 7 and
// then reads its artifacts through the model routes. MLflow 3.16 refuses the
// create (READ on the source run is denied).
func TestReviewModelVersionCreateIgnoresExperimentDeny(t *testing.T) {
	p := mustPolicy(t, "preset: mlflow\ndefaultPermission: READ\n")
	if err := p.SetStoreGrants("mlflowdb", []Grant{
		reviewGrant("EDIT", false, nil, []string{AnyResource}, "default"),
		reviewGrant("", true, []string{"7"}, nil, "default"),
	}, true); err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{"/api/2.0/mlflow/model-versions/create", "/ajax-api/2.0/mlflow/model-versions/create"} {
		if d := p.Decide(reviewBob, req("POST", uri, "h")); d.Allow {
			t.Errorf("POST %s allowed (%s): the body's source run may be in denied experiment 7", uri, d.Reason)
		}
	}
}

// FINDING: /graphql reads experiments, runs and models (MLflow authorizes
// per field in its resolvers: a DENY on experiment 7 hides it there). The
// ids are in the body, so by the commit's own rule ("where a request's id is
// not visible, a deny of any resource of its kind applies") a deny must hold
// here; the route has no family, so only the global level is weighed.
func TestReviewGraphQLIgnoresDeny(t *testing.T) {
	p := mustPolicy(t, "preset: mlflow\ndefaultPermission: READ\n")
	if err := p.SetStoreGrants("mlflowdb", []Grant{
		reviewGrant("", true, []string{"7"}, nil, "default"),
	}, true); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"GET", "POST"} {
		if d := p.Decide(reviewBob, req(m, "/graphql", "h")); d.Allow {
			t.Errorf("%s /graphql allowed (%s) despite a DENY on experiment 7", m, d.Reason)
		}
	}
	// Same hole with the 3.8-era NO_PERMISSIONS row (replacing grants).
	q := mustPolicy(t, "preset: mlflow\ndefaultPermission: READ\n")
	if err := q.SetStoreGrants("mlflowdb", []Grant{{Subjects: Subjects{Users: []string{"bob"}}, Level: "NO_PERMISSIONS", Experiments: []string{"7"}}}, false); err != nil {
		t.Fatal(err)
	}
	if d := q.Decide(reviewBob, req("POST", "/graphql", "h")); d.Allow {
		t.Errorf("POST /graphql allowed (%s) despite NO_PERMISSIONS on experiment 7 (3.8 rows)", d.Reason)
	}
}

// FINDING: decidePreset reads the grant set several times (globalLevel,
// familyFloor, familyDenied, workspaceAdmin, lowestResourceLevel), each a
// fresh p.grantsNow(). A reload swapping set A (EDIT on every experiment +
// DENY on 7: runs/create refused) for set B (nothing: READ, runs/create
// refused) can be read half A (the floor) and half B (no deny): allowed,
// which neither set (nor MLflow with either set of rows) allows.
func TestReviewReloadRaceMixesSnapshots(t *testing.T) {
	p := mustPolicy(t, "preset: mlflow\ndefaultPermission: READ\n")
	a := []Grant{
		reviewGrant("EDIT", false, []string{AnyResource}, nil, "team-a"),
		reviewGrant("", true, []string{"7"}, nil, "team-a"),
	}
	r := reviewIn(req("POST", "/api/2.0/mlflow/runs/create", "h"), "team-a")
	for _, set := range [][]Grant{a, nil} {
		if err := p.SetStoreGrants("mlflowdb", set, true); err != nil {
			t.Fatal(err)
		}
		if d := p.Decide(reviewBob, r); d.Allow {
			t.Fatalf("precondition: allowed under a stable set (%s)", d.Reason)
		}
	}
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two CPUs")
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			set := a
			if i%2 == 1 {
				set = nil
			}
			_ = p.SetStoreGrants("mlflowdb", set, true)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	allowed, n := 0, 0
	for time.Now().Before(deadline) && allowed == 0 {
		if p.Decide(reviewBob, r).Allow {
			allowed++
		}
		n++
	}
	stop.Store(true)
	wg.Wait()
	if allowed > 0 {
		t.Errorf("runs/create allowed during a reload (after %d decisions): one decision mixed two grant sets", n)
	}
}

// BLOCKED: denies widened from sub-resources reach every route of the
// family, visible ids and invisible ones, including the ajax-api twins,
// and a token of the user is held by them too.
func TestReviewBlockedSubResourceDenies(t *testing.T) {
	p := mustPolicy(t, "preset: mlflow\ndefaultPermission: MANAGE\n")
	if err := p.SetStoreGrants("mlflowdb", []Grant{
		reviewGrant("", true, []string{AnyResource}, nil, "default"), // a 'trace' DENY, widened
		reviewGrant("", true, nil, []string{AnyResource}, "team-m"),  // a 'prompt_version' DENY, widened
	}, true); err != nil {
		t.Fatal(err)
	}
	tok := reviewBob
	tok.Source, tok.TokenID, tok.MaxLevel = "token:mlflowdb", "t1", "MANAGE"
	for _, id := range []identity.Identity{reviewBob, tok} {
		for _, c := range []struct {
			ws, m, uri string
		}{
			{"default", "GET", "/api/2.0/mlflow/traces?experiment_ids=8"},
			{"default", "GET", "/ajax-api/2.0/mlflow/traces?experiment_ids=8"},
			{"default", "POST", "/v1/traces"},
			{"default", "GET", "/api/3.0/mlflow/scorers/list?experiment_id=8"},
			{"default", "GET", "/api/2.0/mlflow-artifacts/artifacts/workspaces/default/8/x"},
			{"default", "POST", "/api/2.0/mlflow/runs/create"},
			{"team-m", "GET", "/api/2.0/mlflow/registered-models/get?name=m"},
			{"team-m", "GET", "/ajax-api/2.0/mlflow/model-versions/get?name=m"},
			{"team-m", "POST", "/api/2.0/mlflow/registered-models/create"},
		} {
			if d := p.Decide(id, reviewIn(req(c.m, c.uri, "h"), c.ws)); d.Allow {
				t.Errorf("%s %s %s in %s allowed: %s", id.Source, c.m, c.uri, c.ws, d.Reason)
			}
		}
	}
}

// FINDING (conditional on MLflow resolving an artifact request's workspace
// from X-MLFLOW-WORKSPACE, as the brief states for every request): a
// workspaces/<ws>/ prefix in a proxied artifact path silently replaces the
// header's workspace for the whole decision. Bob, MANAGE on every
// experiment of team-a only, sends X-MLFLOW-WORKSPACE: team-b (where he has
// READ) with a path naming team-a: the proxy weighs team-a's rows and lets
// him delete; by the header MLflow weighs team-b's. The other way round, a
// DENY kept in the header's workspace is escaped by naming another one in
// the path. A path that names a workspace other than the header's should
// not be believed.
func TestReviewArtifactPathWorkspaceOverridesHeader(t *testing.T) {
	p := mustPolicy(t, "preset: mlflow\ndefaultPermission: READ\n")
	if err := p.SetStoreGrants("mlflowdb", []Grant{
		reviewGrant("MANAGE", false, []string{AnyResource}, nil, "team-a"),
		reviewGrant("", true, []string{"7"}, nil, "team-d"),
	}, true); err != nil {
		t.Fatal(err)
	}
	del := reviewIn(req("DELETE", "/api/2.0/mlflow-artifacts/artifacts/workspaces/team-a/7/model.pkl", "h"), "team-b")
	if d := p.Decide(reviewBob, del); d.Allow {
		t.Errorf("DELETE with header team-b, path in team-a: allowed (%s)", d.Reason)
	}
	get := reviewIn(req("GET", "/api/2.0/mlflow-artifacts/artifacts/workspaces/team-b/7/model.pkl", "h"), "team-d")
	if d := p.Decide(reviewBob, get); d.Allow {
		t.Errorf("GET with header team-d (DENY on 7), path in team-b: allowed (%s)", d.Reason)
	}
}

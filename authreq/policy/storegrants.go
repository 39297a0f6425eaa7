package policy

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// grantSet is every grant the policy weighs: the config's, then those the
// user stores read from their own sources. Swapped whole; readers never
// lock.
type grantSet struct {
	all     []Grant
	byStore map[string][]Grant
	// broken: stores whose last set was refused. Their users are denied
	// every level until a set is taken: keeping the older set would keep
	// what the store has since revoked, and no set would drop its denies.
	broken map[string]bool
}

// view is one decision's look at the grants: the set at its start, and
// the default.
type view struct {
	gs     []Grant
	deflt  Level
	broken map[string]bool // stores whose grants could not be taken
}

func (p *Policy) view() view {
	g := p.grants.Load()
	return view{gs: g.all, deflt: p.deflt, broken: g.broken}
}

var storeGrantsMu sync.Mutex // one SetStoreGrants at a time (of any policy)

// SetStoreGrants replaces the grants that user store source read from its
// own source (MLflow's permission rows), beside the config's. Each grant
// must name subjects and a valid level. floor says how its per-resource
// grants mean: false, they replace the global level where they match (so
// they may lower it, as the config's do, and as MLflow's 3.8-era
// per-resource rows do); true, they only ever raise it (MLflow 3.13 and
// later, where default_permission is a floor and an absent row is the
// only "no"). Where a per-resource grant of the config matches, it decides
// and floors do not count: the operator's word at the proxy holds.
//
// Floors may also name every resource of a kind, Experiments or
// RegisteredModels [AnyResource] (MLflow's "*" pattern): they then raise
// the level on every route of that family in their workspaces, the ones
// whose id a proxy cannot see included. A floor without resources is
// workspace-wide (MLflow's resource type "workspace"): it raises the
// global level.
//
// A floor set may hold denies (Grant.Deny): the user may not use the
// resources named, nor, when a deny names none, anything in its
// workspaces. A deny beats every floor but a workspace-wide MANAGE
// (MLflow's workspace admin); a config per-resource grant still decides
// over it. Where a request's id is not visible, a deny of any resource of
// the family applies, as a config grant that lowers does.
//
// A set with a grant that is not valid is refused whole, and the store's
// users then get no level at all (admins stay admins) until a valid set
// comes: keeping the previous set would keep what the store has since
// revoked, and taking part of it could drop a deny.
func (p *Policy) SetStoreGrants(source string, gs []Grant, floor bool) error {
	out, err := checkStoreGrants(source, gs, floor)
	storeGrantsMu.Lock()
	defer storeGrantsMu.Unlock()
	old := p.grants.Load()
	n := &grantSet{byStore: maps.Clone(old.byStore), broken: maps.Clone(old.broken)}
	if n.byStore == nil {
		n.byStore = make(map[string][]Grant)
	}
	if n.broken == nil {
		n.broken = make(map[string]bool)
	}
	n.byStore[source] = out
	if err != nil {
		n.broken[source] = true
	} else {
		delete(n.broken, source)
	}
	n.all = slices.Clone(p.cfg.Grants)
	for _, s := range slices.Sorted(maps.Keys(n.byStore)) {
		n.all = append(n.all, n.byStore[s]...)
	}
	p.grants.Store(n)
	return err
}

func checkStoreGrants(source string, gs []Grant, floor bool) ([]Grant, error) {
	out := make([]Grant, 0, len(gs))
	for i, g := range gs {
		if g.Subjects.empty() {
			return nil, fmt.Errorf("%s grant %d: names no users, groups or roles", source, i)
		}
		if len(g.Experiments) > 0 && len(g.RegisteredModels) > 0 {
			return nil, fmt.Errorf("%s grant %d: for experiments and registered models at once", source, i)
		}
		if !floor && (slices.Contains(g.Experiments, AnyResource) || slices.Contains(g.RegisteredModels, AnyResource)) {
			// A replacing grant for every resource would have to decide
			// where the id is invisible too; only floors mean that here.
			return nil, fmt.Errorf("%s grant %d: every resource only in floors", source, i)
		}
		if g.Deny && !floor {
			return nil, fmt.Errorf("%s grant %d: a deny in a set that is not of floors", source, i)
		}
		if g.Deny {
			g.Level = NoPermissions.String()
		}
		l, err := ParseLevel(g.Level)
		if err != nil {
			return nil, fmt.Errorf("%s grant %d: %v", source, i, err)
		}
		g.level, g.floor, g.source = l, floor, source
		out = append(out, g)
	}
	return out, nil
}

// newGrantSet holds the config's grants only.
func newGrantSet(cfg []Grant) *atomic.Pointer[grantSet] {
	var p atomic.Pointer[grantSet]
	p.Store(&grantSet{all: cfg})
	return &p
}

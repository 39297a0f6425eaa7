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
}

// grantsNow is the current grant set.
func (p *Policy) grantsNow() []Grant { return p.grants.Load().all }

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
func (p *Policy) SetStoreGrants(source string, gs []Grant, floor bool) error {
	out := make([]Grant, 0, len(gs))
	for i, g := range gs {
		if g.Subjects.empty() {
			return fmt.Errorf("%s grant %d: names no users, groups or roles", source, i)
		}
		l, err := ParseLevel(g.Level)
		if err != nil {
			return fmt.Errorf("%s grant %d: %v", source, i, err)
		}
		g.level, g.floor, g.source = l, floor, source
		out = append(out, g)
	}
	storeGrantsMu.Lock()
	defer storeGrantsMu.Unlock()
	old := p.grants.Load()
	n := &grantSet{byStore: maps.Clone(old.byStore)}
	if n.byStore == nil {
		n.byStore = make(map[string][]Grant)
	}
	n.byStore[source] = out
	n.all = slices.Clone(p.cfg.Grants)
	for _, s := range slices.Sorted(maps.Keys(n.byStore)) {
		n.all = append(n.all, n.byStore[s]...)
	}
	p.grants.Store(n)
	return nil
}

// newGrantSet holds the config's grants only.
func newGrantSet(cfg []Grant) *atomic.Pointer[grantSet] {
	var p atomic.Pointer[grantSet]
	p.Store(&grantSet{all: cfg})
	return &p
}

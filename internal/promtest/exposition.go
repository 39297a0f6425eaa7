package promtest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TargetLabels are the labels Prometheus adds to every scraped series:
// queries may match and group on them though no exporter writes them.
var TargetLabels = []string{"job", "instance"}

// Exposition is one scrape of /metrics: each family's type and the label
// names its series carry.
type Exposition struct {
	families map[string]*dto.MetricFamily
}

// Scrape reads url's /metrics text.
func Scrape(url string) (*Exposition, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return ParseExposition(resp.Body)
}

// ParseExposition reads the Prometheus text format.
func ParseExposition(r io.Reader) (*Exposition, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return &Exposition{families: fams}, nil
}

// series is what a name in a query stands for: the family, and the label
// names that series of that name carry.
func (e *Exposition) series(name string) (*dto.MetricFamily, []string, bool) {
	fam, extra := e.families[name], ""
	if fam == nil {
		// A histogram's or summary's series carry suffixes its family
		// does not.
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			base, ok := strings.CutSuffix(name, suf)
			f := e.families[base]
			if !ok || f == nil {
				continue
			}
			switch t := f.GetType(); {
			case suf == "_bucket" && (t == dto.MetricType_HISTOGRAM || t == dto.MetricType_GAUGE_HISTOGRAM):
				fam, extra = f, "le"
			case suf != "_bucket" && (t == dto.MetricType_HISTOGRAM || t == dto.MetricType_SUMMARY):
				fam = f
			}
		}
		if fam == nil {
			return nil, nil, false
		}
	} else if fam.GetType() == dto.MetricType_SUMMARY {
		extra = "quantile"
	}
	labels := slices.Clone(TargetLabels)
	if extra != "" {
		labels = append(labels, extra)
	}
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if !slices.Contains(labels, l.GetName()) {
				labels = append(labels, l.GetName())
			}
		}
	}
	sort.Strings(labels)
	return fam, labels, true
}

// counterFuncs work on counters only.
var counterFuncs = map[string]bool{"rate": true, "irate": true, "increase": true, "resets": true}

// Check tells what in expr the exposition does not have: a metric it does
// not export, a label a selector matches that its series lack, a grouping
// label none of the expression's series carry, a legend's {{label}} that
// the result cannot have, or rate() over something that is not a counter.
func (e *Exposition) Check(expr, legend string) error {
	q, err := Parse(expr)
	if err != nil {
		return err
	}
	if len(q.Selectors) == 0 {
		return fmt.Errorf("%q names no metric", expr)
	}
	var errs []error
	var all []string // labels of every series the expression reads
	for _, s := range q.Selectors {
		fam, labels, ok := e.series(s.Metric)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: not exported", s.Metric))
			continue
		}
		if s.Metric == fam.GetName() && fam.GetType() == dto.MetricType_HISTOGRAM {
			errs = append(errs, fmt.Errorf("%s: a histogram; its series are %[1]s_bucket, _sum and _count", s.Metric))
			continue
		}
		all = append(all, labels...)
		for _, l := range s.Labels {
			if !slices.Contains(labels, l) {
				errs = append(errs, fmt.Errorf("%s: no label %q (it has %s)", s.Metric, l, strings.Join(labels, ", ")))
			}
		}
		if counterFuncs[s.Func] {
			counter := fam.GetType() == dto.MetricType_COUNTER || s.Metric != fam.GetName() // a histogram's _bucket, _sum, _count
			if !counter {
				errs = append(errs, fmt.Errorf("%s(%s): a %s, not a counter", s.Func, s.Metric, strings.ToLower(fam.GetType().String())))
			}
		}
	}
	if len(errs) == 0 {
		for _, l := range q.Grouping {
			if !slices.Contains(all, l) {
				errs = append(errs, fmt.Errorf("groups by %q, which none of its series has", l))
			}
		}
		kept := all
		if len(q.By) > 0 {
			kept = q.By
		}
		for _, l := range legendLabels(legend) {
			if !slices.Contains(kept, l) {
				errs = append(errs, fmt.Errorf("shows {{%s}} (legend or $labels), a label its result does not have", l))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s:\n%w", strings.TrimSpace(expr), err)
	}
	return nil
}

// legendLabels are the label names of a Grafana legend format,
// "{{result}} on {{ instance }}".
func legendLabels(legend string) []string {
	var out []string
	for {
		_, rest, ok := strings.Cut(legend, "{{")
		if !ok {
			return out
		}
		name, after, ok := strings.Cut(rest, "}}")
		if !ok {
			return out
		}
		out = append(out, strings.TrimSpace(name))
		legend = after
	}
}

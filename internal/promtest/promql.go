// Package promtest checks the PromQL of the shipped alert rules and
// dashboard against the series a running authreq really exports, so that a
// renamed metric or label breaks a test instead of a dashboard.
//
// It reads PromQL with a small tokenizer rather than Prometheus's parser,
// whose module would pull half of Prometheus into go.mod: it finds the
// series selectors (metric names and the labels they match on), the labels
// expressions group by, and the function each selector sits in. Grafana's
// $variables are skipped.
package promtest

import (
	"fmt"
	"slices"
	"strings"
)

// Query is what an expression names.
type Query struct {
	Selectors []Selector
	// Grouping: the labels of by, without, on, ignoring, group_left and
	// group_right clauses.
	Grouping []string
	// By: the labels of by clauses alone, which are all an aggregation's
	// result keeps.
	By []string
}

// Selector is one series selector.
type Selector struct {
	Metric string
	Labels []string // names the matchers compare
	// Func is the innermost function or aggregation around the selector
	// ("rate", "sum"), "" at the top.
	Func string
}

// aggregations and functions of PromQL: any other name followed by "(" is
// an error, so that a typo is not taken for a function.
var functions = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio
		abs absent absent_over_time ceil changes clamp clamp_max clamp_min day_of_month day_of_week day_of_year
		days_in_month delta deriv exp floor histogram_avg histogram_count histogram_fraction histogram_quantile
		histogram_stddev histogram_stdvar histogram_sum holt_winters double_exponential_smoothing hour idelta
		increase irate label_join label_replace ln log2 log10 minute month predict_linear rate resets round
		scalar sgn sort sort_desc sort_by_label sort_by_label_desc sqrt time timestamp vector year
		avg_over_time min_over_time max_over_time sum_over_time count_over_time quantile_over_time
		stddev_over_time stdvar_over_time last_over_time present_over_time mad_over_time
		acos acosh asin asinh atan atanh cos cosh sin sinh tan tanh deg rad pi start end`) {
		functions[f] = true
	}
}

var (
	// keywords are binary operators and modifiers, never metric names.
	keywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true, "inf": true, "nan": true}
	// labelLists are followed by a parenthesised list of label names.
	labelLists = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
)

type tokKind int

const (
	tIdent tokKind = iota
	tString
	tPunct  // ( ) { } , and operators
	tNumber // numbers and durations
)

type token struct {
	kind tokKind
	text string
}

// Parse reads the selectors and grouping labels of expr.
func Parse(expr string) (Query, error) {
	toks, err := lex(expr)
	if err != nil {
		return Query{}, err
	}
	var q Query
	var stack []string // function per open parenthesis ("" for plain grouping)
	pending := ""      // a function name whose "(" comes next (after by (...) for aggregations)
	inner := func() string {
		for i := len(stack) - 1; i >= 0; i-- {
			if stack[i] != "" {
				return stack[i]
			}
		}
		return ""
	}
	next := func(i int) token {
		if i+1 < len(toks) {
			return toks[i+1]
		}
		return token{}
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == tPunct && t.text == "(":
			stack = append(stack, pending)
			pending = ""
		case t.kind == tPunct && t.text == ")":
			if len(stack) == 0 {
				return Query{}, fmt.Errorf("promql %q: unbalanced ')'", expr)
			}
			stack = stack[:len(stack)-1]
		case t.kind == tPunct && t.text == "{":
			// A selector without a name: {__name__="x"}.
			sel, end, err := matchers(toks, i, expr)
			if err != nil {
				return Query{}, err
			}
			sel.Func = inner()
			if sel.Metric == "" {
				return Query{}, fmt.Errorf("promql %q: a selector without a metric name", expr)
			}
			q.Selectors = append(q.Selectors, sel)
			i = end
		case t.kind != tIdent:
		case labelLists[t.text]:
			if n := next(i); n.kind != tPunct || n.text != "(" {
				if t.text == "group_left" || t.text == "group_right" {
					continue // without a label list
				}
				return Query{}, fmt.Errorf("promql %q: %s without a label list", expr, t.text)
			}
			j := i + 2
			for ; j < len(toks) && toks[j].text != ")"; j++ {
				switch {
				case toks[j].kind == tIdent:
					q.Grouping = append(q.Grouping, toks[j].text)
					if t.text == "by" {
						q.By = append(q.By, toks[j].text)
					}
				case toks[j].text != ",":
					return Query{}, fmt.Errorf("promql %q: %q in the label list of %s", expr, toks[j].text, t.text)
				}
			}
			i = j
		case keywords[strings.ToLower(t.text)]:
			if t.text == "offset" {
				i++ // its duration
			}
		case functions[t.text] && (next(i).text == "(" || next(i).text == "by" || next(i).text == "without"):
			pending = t.text
		case next(i).kind == tPunct && next(i).text == "(":
			return Query{}, fmt.Errorf("promql %q: unknown function %s", expr, t.text)
		default:
			sel := Selector{Metric: t.text, Func: inner()}
			if n := next(i); n.kind == tPunct && n.text == "{" {
				m, end, err := matchers(toks, i+1, expr)
				if err != nil {
					return Query{}, err
				}
				if m.Metric != "" {
					return Query{}, fmt.Errorf("promql %q: %s with a __name__ matcher", expr, t.text)
				}
				sel.Labels = m.Labels
				i = end
			}
			q.Selectors = append(q.Selectors, sel)
		}
	}
	if len(stack) != 0 {
		return Query{}, fmt.Errorf("promql %q: unbalanced '('", expr)
	}
	return q, nil
}

// matchers reads the {label op "value", ...} block that starts at toks[i]
// and returns the index of its '}'.
func matchers(toks []token, i int, expr string) (Selector, int, error) {
	var s Selector
	for j := i + 1; j < len(toks); j++ {
		switch t := toks[j]; {
		case t.text == "}":
			return s, j, nil
		case t.text == ",":
		case t.kind == tIdent && j+2 < len(toks) && slices.Contains([]string{"=", "!=", "=~", "!~"}, toks[j+1].text) && toks[j+2].kind == tString:
			if t.text == "__name__" && toks[j+1].text == "=" {
				s.Metric = toks[j+2].text
			} else {
				s.Labels = append(s.Labels, t.text)
			}
			j += 2
		default:
			return s, 0, fmt.Errorf("promql %q: %q in a label matcher", expr, t.text)
		}
	}
	return s, 0, fmt.Errorf("promql %q: unclosed '{'", expr)
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdent(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

// lex splits expr into tokens. Range and subquery brackets ([5m],
// [$__rate_interval], [1h:5m]) and Grafana variables ($job, ${job},
// $__interval) are dropped; comments too.
func lex(expr string) ([]token, error) {
	var toks []token
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '[':
			end := strings.IndexByte(expr[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("promql %q: unclosed '['", expr)
			}
			i += end + 1
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				end := strings.IndexByte(expr[i:], '}')
				if end < 0 {
					return nil, fmt.Errorf("promql %q: unclosed '${'", expr)
				}
				i += end + 1
				break
			}
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			var b strings.Builder
			for ; j < len(expr) && expr[j] != c; j++ {
				if expr[j] == '\\' && c != '`' && j+1 < len(expr) {
					j++
				}
				b.WriteByte(expr[j])
			}
			if j >= len(expr) {
				return nil, fmt.Errorf("promql %q: unclosed string", expr)
			}
			toks = append(toks, token{tString, b.String()})
			i = j + 1
		case '0' <= c && c <= '9' || c == '.':
			j := i
			for j < len(expr) && (isIdent(expr[j]) || expr[j] == '.' || (expr[j] == '+' || expr[j] == '-') && (expr[j-1] == 'e' || expr[j-1] == 'E')) {
				j++
			}
			toks = append(toks, token{tNumber, expr[i:j]})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			toks = append(toks, token{tIdent, expr[i:j]})
			i = j
		default:
			j := i + 1
			if j < len(expr) && strings.Contains("=!<>", string(c)) && strings.Contains("=~", string(expr[j])) {
				j++
			}
			toks = append(toks, token{tPunct, expr[i:j]})
			i = j
		}
	}
	return toks, nil
}

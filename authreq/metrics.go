package authreq

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the service's Prometheus series, on a registry of its own so
// that several servers (tests) do not collide. No label carries a user
// name: that would make the series unbounded.
type metrics struct {
	reg             *prometheus.Registry
	decisions       *prometheus.CounterVec
	requestDuration prometheus.Histogram
	backendDuration *prometheus.HistogramVec
	cacheHits       prometheus.Counter
	cacheMisses     prometheus.Counter
	reloads         *prometheus.CounterVec
	reloadErrors    prometheus.Counter
	queueTimeouts   prometheus.Counter
	throttled       *prometheus.CounterVec
}

// throttleStats is what the metrics read off the throttle.
type throttleStats interface {
	Len() int
	StoreErrors() uint64
	Store() (string, error)
}

func newMetrics(cacheLen func() float64, th throttleStats) *metrics {
	const ns = "authreq"
	m := &metrics{
		reg: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "decisions_total",
			Help: "Decisions on /auth by result (allow, deny, throttled, forbidden, error) and backend."}, []string{"result", "backend"}),
		requestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "request_duration_seconds",
			Help:    "Time to answer an /auth request.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
		backendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "backend_duration_seconds",
			Help:    "Time of one password check by a backend, right or wrong (cache misses only).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"backend"}),
		cacheHits:   prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "cache_hits_total", Help: "Requests answered from the verification cache."}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "cache_misses_total", Help: "Requests that needed a password check."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "reloads_total",
			Help: "Reloads of the htpasswd files by result (success, failure)."}, []string{"result"}),
		reloadErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "reload_errors_total",
			Help: "Reloads of user or token files that failed (the previous contents kept) or skipped bad token lines."}),
		queueTimeouts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "verify_queue_timeouts_total",
			Help: "Password checks refused (503) because no verification slot came free in time."}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "throttled_total",
			Help: "Requests refused without a password check after too many failures, by scope (user_ip, ip, user; busy: no call to the shared store free in time)."}, []string{"scope"}),
	}
	version := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
		Help: "Always 1; the version label says which build runs.", ConstLabels: prometheus.Labels{"version": version}})
	buildInfo.Set(1)
	m.reg.MustRegister(m.decisions, m.requestDuration, m.backendDuration, m.cacheHits, m.cacheMisses,
		m.reloads, m.reloadErrors, m.queueTimeouts, m.throttled, buildInfo,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "throttle_entries", Help: "Failure counters and trusted (user, address) pairs held for throttling in this process."},
			func() float64 { return float64(th.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "throttle_store_errors_total",
			Help: "Calls to the shared throttle store (Redis) that failed or took longer than its timeout; each time, this replica throttled on its own."},
			func() float64 { return float64(th.StoreErrors()) }),

		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "cache_entries", Help: "Entries in the verification cache."}, cacheLen),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if name, _ := th.Store(); name != "" {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "throttle_store_up",
			Help: "1 while the shared throttle store (Redis) decides, 0 while this replica throttles on its own."},
			func() float64 {
				if _, err := th.Store(); err != nil {
					return 0
				}
				return 1
			}))
	}
	return m
}

func (m *metrics) reloaded(err error) {
	if err != nil {
		m.reloads.WithLabelValues("failure").Inc()
		m.reloadErrors.Inc()
		return
	}
	m.reloads.WithLabelValues("success").Inc()
}

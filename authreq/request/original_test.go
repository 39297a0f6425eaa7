package request

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOriginalOf(t *testing.T) {
	long := "/api/" + strings.Repeat("a", 3000)
	for _, tt := range []struct {
		name   string
		form   Form
		path   string // of the auth request
		method string // of the auth request
		hdr    map[string]string
		want   Original
		err    error
	}{
		{"nginx snippet", Auto, "/auth", "GET", map[string]string{"X-Original-URI": "/api/2.0/mlflow/experiments/get?experiment_id=1", "X-Original-Method": "GET", "X-Forwarded-Host": "mlflow.example"},
			Original{"GET", "/api/2.0/mlflow/experiments/get?experiment_id=1", "mlflow.example", Nginx}, nil},
		{"ingress-nginx", Auto, "/auth", "GET", map[string]string{"X-Original-URL": "https://mlflow.example/ajax-api/2.0/mlflow/runs/search", "X-Original-Method": "POST"},
			Original{"POST", "/ajax-api/2.0/mlflow/runs/search", "mlflow.example", IngressNginx}, nil},
		{"traefik", Auto, "/auth", "GET", map[string]string{"X-Forwarded-Uri": "/api/2.0/mlflow/runs/delete", "X-Forwarded-Method": "POST", "X-Forwarded-Host": "mlflow.example"},
			Original{"POST", "/api/2.0/mlflow/runs/delete", "mlflow.example", Forwarded}, nil},
		{"envoy", Auto, "/auth/api/2.0/mlflow/experiments/get?experiment_id=7", "GET", map[string]string{},
			Original{"GET", "/api/2.0/mlflow/experiments/get?experiment_id=7", "example.com", Envoy}, nil},
		{"envoy keeps the encoding", Envoy, "/auth/api/%2e%2e/x", "DELETE", nil, Original{"DELETE", "/api/%2e%2e/x", "example.com", Envoy}, nil},
		{"none", Auto, "/auth", "GET", nil, Original{Method: "GET", Host: "example.com"}, ErrNoForm},
		{"not /auth/…", Envoy, "/authx", "GET", nil, Original{Method: "GET", Host: "example.com"}, ErrNoForm},

		// Spoofing: a client adds another proxy's form.
		{"X-Original-URI through Traefik", Auto, "/auth", "GET", map[string]string{"X-Forwarded-Uri": "/api/2.0/mlflow/runs/delete", "X-Forwarded-Method": "POST", "X-Original-URI": "/health"},
			Original{"GET", "/health", "example.com", Nginx}, ErrConflict},
		{"X-Original-URI through ingress-nginx", Auto, "/auth", "GET", map[string]string{"X-Original-URL": "https://m.example/api/2.0/mlflow/runs/delete", "X-Original-Method": "POST", "X-Original-URI": "/health"},
			Original{"POST", "/health", "example.com", Nginx}, ErrConflict},
		{"X-Forwarded-Uri through our nginx", Auto, "/auth", "GET", map[string]string{"X-Original-URI": "/api/2.0/mlflow/runs/delete", "X-Original-Method": "POST", "X-Forwarded-Uri": "/health", "X-Forwarded-Host": "m.example"},
			Original{"POST", "/api/2.0/mlflow/runs/delete", "m.example", Nginx}, ErrConflict},
		{"X-Original-URI through Envoy", Auto, "/auth/api/2.0/mlflow/runs/delete", "POST", map[string]string{"X-Original-URI": "/health"},
			Original{"POST", "/health", "example.com", Nginx}, ErrConflict},
		{"same path, other host", Auto, "/auth", "GET", map[string]string{"X-Original-URI": "/x", "X-Forwarded-Uri": "/x", "X-Forwarded-Host": "a.example", "X-Original-URL": "https://b.example/x"},
			Original{"GET", "/x", "a.example", Nginx}, ErrConflict},
		{"same path, other method", Auto, "/auth", "GET", map[string]string{"X-Original-URI": "/x", "X-Original-Method": "GET", "X-Forwarded-Uri": "/x", "X-Forwarded-Method": "DELETE"},
			Original{"GET", "/x", "example.com", Nginx}, ErrConflict},
		{"same path, other query", Auto, "/auth", "GET", map[string]string{"X-Original-URI": "/x?experiment_id=1", "X-Forwarded-Uri": "/x?experiment_id=2"},
			Original{"GET", "/x?experiment_id=1", "example.com", Nginx}, ErrConflict},
		{"differ past the audit clip", Auto, "/auth", "GET", map[string]string{"X-Original-URI": long + "x", "X-Forwarded-Uri": long + "y"},
			Original{"GET", long + "x", "example.com", Nginx}, ErrConflict},
		{"agreeing forms", Auto, "/auth", "GET", map[string]string{"X-Original-URI": "/x", "X-Forwarded-Uri": "/x"},
			Original{"GET", "/x", "example.com", Nginx}, nil},
		{"unreadable X-Original-URL", Auto, "/auth", "GET", map[string]string{"X-Original-URL": "::", "X-Original-URI": "/x"},
			Original{"GET", "/x", "example.com", Nginx}, ErrConflict},
		// The client's raw Host inside X-Original-URL: nginx routes by it up
		// to its first ':', url.Parse read "h:#/p" as a fragment.
		{"a Host with a fragment", IngressNginx, "/auth", "GET", map[string]string{"X-Original-URL": "https://m.example:#/api/2.0/mlflow/experiments/get?experiment_id=7", "X-Original-Method": "GET"},
			Original{"GET", "", "example.com", IngressNginx}, nil},
		{"a Host with userinfo", IngressNginx, "/auth", "GET", map[string]string{"X-Original-URL": "https://m.example:1@admin.example/x", "X-Original-Method": "GET"},
			Original{"GET", "", "example.com", IngressNginx}, nil},
		{"a Host with a query", IngressNginx, "/auth", "GET", map[string]string{"X-Original-URL": "http://m.example?/x", "X-Original-Method": "GET"},
			Original{"GET", "", "example.com", IngressNginx}, nil},
		{"a port and a query", IngressNginx, "/auth", "GET", map[string]string{"X-Original-URL": "https://m.example:8443/x?a=1#b", "X-Original-Method": "GET"},
			Original{"GET", "/x?a=1#b", "m.example:8443", IngressNginx}, nil},
		{"an IPv6 address", IngressNginx, "/auth", "GET", map[string]string{"X-Original-URL": "http://[::1]:80/x", "X-Original-Method": "PUT"},
			Original{"PUT", "/x", "[::1]:80", IngressNginx}, nil},

		// A named form reads only its own headers.
		{"forwarded ignores X-Original-URI", Forwarded, "/auth", "GET", map[string]string{"X-Forwarded-Uri": "/a", "X-Original-URI": "/health"},
			Original{"GET", "/a", "example.com", Forwarded}, nil},
		{"nginx ignores X-Forwarded-Uri", Nginx, "/auth", "GET", map[string]string{"X-Original-URI": "/a", "X-Forwarded-Uri": "/health"},
			Original{"GET", "/a", "example.com", Nginx}, nil},
		{"ingress-nginx ignores X-Original-URI", IngressNginx, "/auth", "GET", map[string]string{"X-Original-URL": "http://h/a", "X-Original-URI": "/health"},
			Original{"GET", "/a", "h", IngressNginx}, nil},
		{"envoy ignores every header", Envoy, "/auth/a", "PUT", map[string]string{"X-Original-URI": "/health", "X-Forwarded-Uri": "/health", "X-Original-Method": "GET"},
			Original{"PUT", "/a", "example.com", Envoy}, nil},
		{"nginx form absent", Nginx, "/auth", "GET", map[string]string{"X-Forwarded-Uri": "/health"}, Original{Method: "GET", Host: "example.com"}, ErrNoForm},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			for k, v := range tt.hdr {
				r.Header.Set(k, v)
			}
			got, err := OriginalOf(r, tt.form)
			if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("%+v %v\nwant %+v %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestFormValidate(t *testing.T) {
	for _, f := range []Form{Auto, Nginx, IngressNginx, Forwarded, Envoy} {
		if err := f.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, f := range []Form{"", "Nginx", "traefik", "x"} {
		if err := f.Validate(); err == nil || !strings.HasPrefix(err.Error(), "originalRequest: ") {
			t.Errorf("%q: %v", f, err)
		}
	}
}

func FuzzOriginalOf(f *testing.F) {
	f.Add("/auth/x?y", "/a", "https://h/b", "/c")
	f.Fuzz(func(t *testing.T, path, uri, url, fwd string) {
		r := httptest.NewRequest("GET", "/auth", nil)
		r.URL.Path = path
		r.Header.Set("X-Original-URI", uri)
		r.Header.Set("X-Original-URL", url)
		r.Header.Set("X-Forwarded-Uri", fwd)
		for _, form := range append([]Form{Auto}, forms...) {
			OriginalOf(r, form) // must not panic
		}
	})
}

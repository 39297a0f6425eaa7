package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/internal/realtest"
)

// Envoy Gateway and Traefik cannot run here. These tests send authreq the
// requests they send, as their source and documentation describe them,
// and apply to its answers what they do with them; what the upstream would
// receive is recorded in a seen, as the demo upstream reports it.

// proxied is a client request as a proxy holds it on arrival.
type proxied struct {
	method, host, uri string
	header            http.Header
	body              string
}

func arrive(c clientReq) proxied {
	req, _ := http.NewRequest(c.method, "http://mlflow.example.com"+c.path, nil)
	setCredentials(req, c.user)
	for k, v := range c.hdr {
		req.Header.Set(k, v)
	}
	return proxied{method: c.method, host: "mlflow.example.com", uri: c.path, header: req.Header, body: c.body}
}

// upstream is what the demo upstream would report of p sent on with
// headers h.
func (p proxied) upstream(h http.Header) seen {
	return seen{Path: p.uri, Method: p.method, User: h.Get("X-User"), AuthUser: h.Get("X-Auth-Request-User"),
		Groups: h.Get("X-Groups"), Role: h.Get("X-Role"), Authorization: h.Get("Authorization") != "",
		ProxyAuth: h.Get("Proxy-Authorization") != "", BodyBytes: int64(len(p.body))}
}

func send(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestEnvoyGatewayExtAuth: Envoy's HTTP ext_authz as Envoy Gateway
// configures it from examples/gateway-api/envoy-gateway.yaml
// (internal/xds/translator/extauth.go: path → path_prefix, headersToBackend
// → allowed_upstream_headers, headersToExtAuth → allowed_headers; Envoy's
// ext_authz filter: the check keeps the client's method, its path is
// path_prefix + the client's path and query, it carries no body and only
// Host, Authorization, Content-Length and the allowed headers; a 200 adds
// the allowed upstream headers to the request, any other status goes to
// the client with the check's status and headers).
func TestEnvoyGatewayExtAuth(t *testing.T) {
	docs := readYAML(t, "../examples/gateway-api/envoy-gateway.yaml")
	sp := docs["SecurityPolicy"]
	path, _ := dig(sp, "spec", "extAuth", "http", "path").(string)
	toBackend := strs(t, dig(sp, "spec", "extAuth", "http", "headersToBackend"))
	toExtAuth := strs(t, dig(sp, "spec", "extAuth", "headersToExtAuth"))
	early := strs(t, dig(docs["ClientTrafficPolicy"], "spec", "headers", "earlyRequestHeaders", "remove"))
	var routeRemove []string
	for _, f := range dig(docs["HTTPRoute"], "spec", "rules").([]any)[0].(map[string]any)["filters"].([]any) {
		if dig(f, "type") == "RequestHeaderModifier" {
			routeRemove = strs(t, dig(f, "requestHeaderModifier", "remove"))
		}
	}
	if path != "/auth" || len(toBackend) != 3 {
		t.Fatalf("SecurityPolicy: path %q, headersToBackend %v", path, toBackend)
	}
	authAddr, ap := startAuthreq(t, "envoy", "X-Real-IP")

	envoy := func(c clientReq) reply {
		p := arrive(c)
		for _, h := range early { // ClientTrafficPolicy: on arrival
			p.header.Del(h)
		}
		// Envoy's edge X-Forwarded-For: the client's, then its peer.
		p.header.Set("X-Forwarded-For", strings.Join(append(p.header.Values("X-Forwarded-For"), "203.0.113.7"), ", "))
		chk, err := http.NewRequest(p.method, "http://"+authAddr+path+p.uri, http.NoBody)
		if err != nil {
			t.Fatal(err)
		}
		chk.Host = p.host
		for _, h := range append([]string{"Authorization"}, toExtAuth...) {
			for _, v := range p.header.Values(h) {
				chk.Header.Add(h, v)
			}
		}
		resp, _ := send(t, chk)
		if resp.StatusCode != http.StatusOK {
			return reply{code: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate")}
		}
		for _, h := range toBackend {
			if v := resp.Header.Values(h); len(v) > 0 {
				p.header[http.CanonicalHeaderKey(h)] = v
			}
		}
		for _, h := range routeRemove { // the route's filter, in the router
			p.header.Del(h)
		}
		return reply{code: 200, up: p.upstream(p.header)}
	}
	check(t, envoy)

	// The client's path and query reached authreq, and its address (the
	// rightmost X-Forwarded-For hop Envoy's peer is not trusted for).
	envoy(clientReq{method: "GET", path: "/api/2.0/mlflow/runs/get?run_id=r1", user: "alice", hdr: map[string]string{"X-Forwarded-For": "6.6.6.6"}})
	realtest.Eventually(t, 5*time.Second, "audit line", func() bool {
		return strings.Contains(ap.Output(), `"client_ip":"203.0.113.7","user":"alice","method":"GET","uri":"/api/2.0/mlflow/runs/get?run_id=r1","host":"mlflow.example.com","decision":"allow"`)
	})
	// Why the ClientTrafficPolicy: authreq's 200 for a user without a
	// role has no X-Role, so Envoy would leave the client's in place.
	chk, _ := http.NewRequest("GET", "http://"+authAddr+"/auth/", nil)
	chk.SetBasicAuth("alice", "alice-pw")
	if resp, _ := send(t, chk); resp.StatusCode != 200 || len(resp.Header.Values("X-Role")) != 0 {
		t.Errorf("authreq now always answers X-Role (%d %v): the ClientTrafficPolicy may go", resp.StatusCode, resp.Header)
	}
}

// TestTraefikForwardAuth: Traefik's ForwardAuth middleware as
// examples/traefik/mlflow.yaml configures it (pkg/middlewares/auth/forward.go,
// writeHeader with trustForwardHeader false: a GET to the address without
// a body, carrying the client's headers less hop-by-hop ones and less
// every X-Forwarded-* and X-Real-Ip, then X-Forwarded-For (the client's
// address), -Method, -Proto, -Port, -Host and -Uri; a 2xx replaces the
// authResponseHeaders on the request, anything else goes to the client
// with the answer's status, headers and body).
func TestTraefikForwardAuth(t *testing.T) {
	docs := readYAML(t, "../examples/traefik/mlflow.yaml")
	fa := dig(docs["Middleware/authreq"], "spec", "forwardAuth")
	address, _ := dig(fa, "address").(string)
	respHeaders := strs(t, dig(fa, "authResponseHeaders"))
	if trust, ok := dig(fa, "trustForwardHeader").(bool); !ok || trust {
		t.Fatalf("forwardAuth.trustForwardHeader must be false, is %v", dig(fa, "trustForwardHeader"))
	}
	drop := dig(docs["Middleware/drop-credentials"], "spec", "headers", "customRequestHeaders").(map[string]any)
	authAddr, ap := startAuthreq(t, "forwarded", "X-Real-IP")
	u, err := url.Parse(strings.Replace(address, authreqService, authAddr, 1))
	if err != nil || u.Host != authAddr {
		t.Fatalf("forwardAuth.address %q does not name %s", address, authreqService)
	}

	traefik := func(c clientReq) reply {
		p := arrive(c)
		fwd, err := http.NewRequest("GET", u.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range p.header {
			fwd.Header[k] = append([]string(nil), v...)
		}
		for _, h := range []string{"Connection", "Keep-Alive", "Te", "Trailers", "Transfer-Encoding", "Upgrade"} {
			fwd.Header.Del(h)
		}
		for k := range fwd.Header {
			if strings.HasPrefix(k, "X-Forwarded-") || k == "X-Real-Ip" || k == "X-Scheme" {
				fwd.Header.Del(k)
			}
		}
		fwd.Header.Set("X-Forwarded-For", clientIP)
		fwd.Header.Set("X-Forwarded-Method", p.method)
		fwd.Header.Set("X-Forwarded-Proto", "https")
		fwd.Header.Set("X-Forwarded-Port", "443")
		fwd.Header.Set("X-Forwarded-Host", p.host)
		fwd.Header.Set("X-Forwarded-Uri", p.uri)
		resp, _ := send(t, fwd)
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return reply{code: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate")}
		}
		for _, h := range respHeaders {
			p.header.Del(h)
			if v := resp.Header.Values(h); len(v) > 0 {
				p.header[http.CanonicalHeaderKey(h)] = v
			}
		}
		for h := range drop { // the headers middleware: "" removes
			p.header.Del(h)
		}
		return reply{code: resp.StatusCode, up: p.upstream(p.header)}
	}
	check(t, traefik)

	traefik(clientReq{method: "GET", path: "/api/2.0/mlflow/runs/get?run_id=r1", user: "alice", hdr: map[string]string{"X-Real-IP": "6.6.6.6", "X-Forwarded-For": "6.6.6.7"}})
	realtest.Eventually(t, 5*time.Second, "audit line", func() bool {
		return strings.Contains(ap.Output(), `"client_ip":"127.0.0.1","user":"alice","method":"GET","uri":"/api/2.0/mlflow/runs/get?run_id=r1","host":"mlflow.example.com","decision":"allow"`)
	})
	if strings.Contains(ap.Output(), "6.6.6.") {
		t.Errorf("authreq believed a client's address:\n%s", ap.Output())
	}
}

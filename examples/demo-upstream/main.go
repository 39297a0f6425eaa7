// Command demo-upstream stands in for MLflow in the demo and the end-to-end
// tests: it answers every request with what it was told about the user.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"io"
	"log"
	"net/http"
	"strings"
	"time"
)

// seen is what the upstream received; tests decode it.
type seen struct {
	Path          string `json:"path"`
	Method        string `json:"method"`
	User          string `json:"x_user"`
	AuthUser      string `json:"x_auth_request_user"`
	Groups        string `json:"x_groups"`
	Role          string `json:"x_role"`
	Authorization bool   `json:"authorization_forwarded"`
	ProxyAuth     bool   `json:"proxy_authorization_forwarded"`
	BodyBytes     int64  `json:"body_bytes"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "listen address")
	flag.Parse()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the whole body, as a real upstream does: answering with part
		// of it unread makes Go close the connection under nginx, which
		// then reports 502.
		n, _ := io.Copy(io.Discard, r.Body)
		s := seen{Path: r.URL.RequestURI(), Method: r.Method, User: r.Header.Get("X-User"), AuthUser: r.Header.Get("X-Auth-Request-User"),
			Groups: r.Header.Get("X-Groups"), Role: r.Header.Get("X-Role"), Authorization: r.Header.Get("Authorization") != "",
			ProxyAuth: r.Header.Get("Proxy-Authorization") != "", BodyBytes: n}
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, "<!doctype html><title>demo upstream</title><h1>Hello, %s</h1><p>This page stands in for MLflow. nginx asked authreq, which said you are <b>%s</b>; you asked for <code>%s</code>.</p>\n",
				html.EscapeString(s.User), html.EscapeString(s.User), html.EscapeString(s.Path))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s)
	})
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("demo upstream on http://%s", *listen)
	log.Fatal(srv.ListenAndServe())
}

#!/usr/bin/env bash
# make run: authreq on 127.0.0.1:9091 and nginx on 127.0.0.1:8080 in front
# of a demo upstream (a stand-in for MLflow) on 127.0.0.1:8081. Ctrl-C stops
# all three. State lives in .demo/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
state=$PWD/.demo
mkdir -p "$state/logs" "$state/tmp"

for b in bin/authreq bin/htpw bin/demo-upstream; do
  [ -x "$b" ] || { echo "run-demo: $b missing; run 'make build'" >&2; exit 1; }
done

nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$nginx_bin" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "run-demo: installing nginx" >&2
    ./scripts/test-deps.sh nginx
  else
    echo "run-demo: nginx is not installed; as root: apt-get install nginx" >&2
    exit 1
  fi
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in 9091 8080 8081; do
  port_free "$p" || { echo "run-demo: port $p on 127.0.0.1 is taken; stop what uses it" >&2; exit 1; }
done

if [ ! -s "$state/htpasswd" ]; then
  pw=$(head -c 15 /dev/urandom | base64 | tr '+/' '-_')
  printf '%s\n' "$pw" | bin/htpw add -f "$state/htpasswd" --stdin demo
  created=1
fi

cat > "$state/authreq.yml" <<YAML
listen: 127.0.0.1:9091
realm: "authreq demo"
htpasswd:
  files: ["$state/htpasswd"]
audit:
  output: "$state/logs/audit.log"
YAML

user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root;"   # workers must read .demo/
cat > "$state/nginx.conf" <<NGINX
$user_line
worker_processes 1;
daemon off;
pid $state/nginx.pid;
error_log $state/logs/nginx-error.log;
events { worker_connections 256; }
http {
  access_log $state/logs/nginx-access.log;
  client_body_temp_path $state/tmp/body;
  proxy_temp_path $state/tmp/proxy;
  fastcgi_temp_path $state/tmp/fastcgi;
  uwsgi_temp_path $state/tmp/uwsgi;
  scgi_temp_path $state/tmp/scgi;
  include $PWD/nginx/authreq-upstream.conf;
  server {
    listen 127.0.0.1:8080;
    include $PWD/nginx/authreq-location.conf;
    location / {
      include $PWD/nginx/authreq-protect.conf;
      proxy_pass http://127.0.0.1:8081;
    }
  }
}
NGINX

pids=()
cleanup() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "run-demo: stopped" >&2
}
trap cleanup INT TERM EXIT

bin/demo-upstream -listen 127.0.0.1:8081 2>"$state/logs/upstream.log" & pids+=($!)
bin/authreq --config "$state/authreq.yml" --log-format text 2>"$state/logs/authreq.log" & pids+=($!)
"$nginx_bin" -p "$state" -c "$state/nginx.conf" & pids+=($!)

for p in 8081 9091 8080; do
  for _ in $(seq 100); do port_free "$p" || break; sleep 0.1; done
  port_free "$p" && { echo "run-demo: nothing listens on $p; see $state/logs/" >&2; exit 1; }
done

echo
echo "  open http://127.0.0.1:8080/  (user: demo)"
if [ -n "${created:-}" ]; then
  echo "  password: $pw   (shown once; change it with: bin/htpw passwd -f .demo/htpasswd demo)"
else
  echo "  password: as printed when .demo/htpasswd was made; reset with: bin/htpw passwd -f .demo/htpasswd demo"
fi
echo "  try:  curl -u demo:PASSWORD http://127.0.0.1:8080/"
echo "  logs: .demo/logs/ (audit.log: one line per decision)   Ctrl-C stops everything"
echo
wait -n "${pids[@]}" || true

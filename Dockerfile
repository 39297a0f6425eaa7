# The authreq container image: one static binary and a CA bundle, nothing
# else — no shell, no libc, no package manager.
#
# Build it with `make image` (IMAGE=authreq:dev by default; podman or
# docker). The build context is bin/image/, which make fills first:
#   authreq                a static build (CGO_ENABLED=0): scratch has no
#                          libc, and `make build` links dynamically when
#                          cgo is on
#   ca-certificates.crt    the build host's bundle, so ldaps:// and StartTLS
#                          verify public CAs; a private CA goes in the
#                          config (ldap.trustedCACertificateFile)
# Nothing is pulled: scratch is no image, so this builds offline.
#
# Run it with the config mounted at /etc/authreq/ (a directory, so that
# Kubernetes Secret updates reach the htpasswd files and hot reload works);
# the config must listen on all addresses, e.g. `listen: ":9091"`, since
# the default 127.0.0.1:9091 is unreachable from outside the container:
#   podman run -p 127.0.0.1:9091:9091 -v ./authreq:/etc/authreq:ro authreq:dev
FROM scratch
COPY authreq /authreq
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# Numeric, so that no /etc/passwd is needed and Kubernetes' runAsNonRoot
# can tell it is not root; 65532 is distroless's "nonroot".
USER 65532:65532
EXPOSE 9091
ENTRYPOINT ["/authreq"]
CMD ["--config", "/etc/authreq/config.yaml"]

# hookbox on an empty base: the static, cgo-free binary, the build host's CA
# certificates (forwards to https destinations and Stripe's API verify
# against them) and /data for the SQLite store. No shell, no package
# manager, nothing else. The binary is built first, outside (the convention
# of goreleaser and ko), so the build pulls no base image:
#
#   CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o dist/hookbox ./cmd/hookbox
#   mkdir -p dist/empty && cp /etc/ssl/certs/ca-certificates.crt dist/
#   podman build --format docker -t hookbox .     # or: docker build -t hookbox .
#
# (--format docker keeps the HEALTHCHECK, which podman's default OCI format
# drops.) See "Container image" in the README.
FROM scratch

COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# Empty directories owned by the user hookbox runs as: the store, and the
# temporary directory SQLite and Go fall back to.
COPY --chown=65532:65532 dist/empty /data
COPY --chown=65532:65532 dist/empty /tmp
COPY dist/hookbox /hookbox

# A numeric user (scratch has no /etc/passwd), not root.
USER 65532:65532
WORKDIR /data
VOLUME /data

# The public listener on every interface of the container; the admin
# listener (console, API, metrics, /healthz, /readyz) stays on the
# container's loopback, where only the HEALTHCHECK reaches it. To publish
# it, set HOOKBOX_ADMIN_LISTEN=0.0.0.0:8081 and HOOKBOX_ADMIN_TOKEN_FILE
# (serve refuses a non-loopback admin listener without a token).
ENV HOOKBOX_LISTEN=0.0.0.0:8080 \
    HOOKBOX_ADMIN_LISTEN=127.0.0.1:8081 \
    HOOKBOX_DB=sqlite:/data/hookbox.db
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/hookbox", "healthcheck"]
# serve stops gracefully on SIGTERM, within --shutdown-grace.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/hookbox"]
CMD ["serve"]

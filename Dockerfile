# Vigil's container image. The build stage runs exactly what CI tests:
# `make release` (htmx from package-lock.json through npm ci, then the
# static cgo build with -tags "sqlite_fts5 …", -trimpath, version from
# VERSION). The final image holds only that binary, CA roots, a passwd
# entry for the unprivileged user and the /data volume.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t vigil .
#   docker run -d -p 8080:8080 -p 5514:5514 -p 5514:5514/udp -v vigil-data:/data vigil

FROM golang:1.26-bookworm AS build
# gcc and libc6-dev (libc.a) come with the golang image; npm fetches htmx.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm file \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Modules first, so that a change of source does not fetch them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN make release VERSION=${VERSION} \
 && file dist/vigil | grep -q 'statically linked' \
 && dist/vigil --version
# The final image has no shell: prepare its few files here.
RUN mkdir -p /rootfs/etc /rootfs/data /rootfs/tmp \
 && echo 'vigil:x:65532:65532:vigil:/data:/nonexistent' > /rootfs/etc/passwd \
 && echo 'vigil:x:65532:' > /rootfs/etc/group \
 && chown 65532:65532 /rootfs/data \
 && chmod 1777 /rootfs/tmp

FROM scratch
COPY --from=build /rootfs/ /
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /src/dist/vigil /usr/local/bin/vigil
USER 65532:65532
# Configuration is VIGIL_* environment (every serve flag has one). These
# make the listeners reachable from outside the container.
ENV VIGIL_DATA=/data \
    VIGIL_HTTP=0.0.0.0:8080 \
    VIGIL_SYSLOG_UDP=0.0.0.0:5514 \
    VIGIL_SYSLOG_TCP=0.0.0.0:5514 \
    VIGIL_LOG_FORMAT=json
VOLUME /data
# 8080 console and API; 5514 syslog UDP and TCP; 6514 syslog TLS (set
# VIGIL_SYSLOG_TLS=0.0.0.0:6514 with VIGIL_TLS_CERT/VIGIL_TLS_KEY); 9090
# metrics when VIGIL_METRICS_LISTEN=0.0.0.0:9090.
EXPOSE 8080/tcp 5514/tcp 5514/udp 6514/tcp 9090/tcp
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/vigil", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["serve"]

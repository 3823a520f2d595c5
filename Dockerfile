# circle-archive in a container: a static-stdlib release binary on slim Debian.
#
#   docker build -t circle-archive .
#   docker run -d -p 8080:8080 -v circle-archive-data:/data \
#       -e CIRCLE_ARCHIVE_SECRETS=your-webhook-secret circle-archive
#
# The build and runtime images share one Debian release (bookworm), so the binary finds the
# glibc it was linked against. Override SWIFT_IMAGE to build with another Swift 6 image.
ARG SWIFT_IMAGE=swift:6.3-bookworm

FROM ${SWIFT_IMAGE} AS build
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends libsqlite3-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so editing a source file does not fetch them again.
COPY Package.swift ./
RUN swift package resolve
COPY . .
RUN swift build -c release --static-swift-stdlib --product circle-archive \
    && install -m 0755 "$(swift build -c release --show-bin-path)/circle-archive" /usr/local/bin/circle-archive

FROM debian:bookworm-slim
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends libsqlite3-0 zlib1g ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin circle-archive \
    && mkdir /data && chown circle-archive:circle-archive /data
COPY --from=build /usr/local/bin/circle-archive /usr/local/bin/circle-archive

USER circle-archive
WORKDIR /data
VOLUME ["/data"]
# Flags win over these, and these over the built-in defaults; the secret comes from
# CIRCLE_ARCHIVE_SECRETS or --secret-file at run time, never from the image.
ENV CIRCLE_ARCHIVE_DB=/data/archive.sqlite \
    CIRCLE_ARCHIVE_HOST=0.0.0.0 \
    CIRCLE_ARCHIVE_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["curl", "--fail", "--silent", "--show-error", "--output", "/dev/null", "http://127.0.0.1:8080/healthz"]
# serve finishes the requests it took, closes the archive and exits 0 on SIGTERM.
STOPSIGNAL SIGTERM
ENTRYPOINT ["circle-archive"]
CMD ["serve"]

# lenskit notebooks in a container: Debian bookworm, Go 1.26.8, and the same
# kernel/setup that `make notebook` runs on a workstation (this file adds no
# set-up steps of its own).
#
#   docker build -t lenskit .
#   docker run --rm -p 8888:8888 lenskit
#
# then open the URL it prints (http://127.0.0.1:8888/tree?token=…). To pick
# the token yourself, add -e JUPYTER_TOKEN=…; to reach the Polish corpus the
# notebooks read from ../shared, mount it: -v /path/to/shared:/work/shared:ro.

# Go is a static toolchain: take it from the official image.
FROM golang:1.26.8 AS go

FROM debian:bookworm
COPY --from=go /usr/local/go /usr/local/go
ENV PATH=/usr/local/go/bin:/root/go/bin:$PATH

# What kernel/setup itself needs before it can run: make to call it, git
# for the Go toolchain, CA certificates for the module proxy; and tini, so
# that `docker stop` reaches the server and its kernels, not only make.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates git make tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /work/main
COPY . .
# Jupyter from Debian, GoNB/gopls/goimports, the module cache and the kernel.
RUN kernel/setup && rm -rf /var/lib/apt/lists/*

EXPOSE 8888
# Still token-protected; 0.0.0.0 so that the published port reaches it.
ENTRYPOINT ["tini", "-g", "--"]
CMD ["make", "notebook", "NOTEBOOK_IP=0.0.0.0"]

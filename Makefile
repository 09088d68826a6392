# The two commands a researcher needs:
#
#   make notebook   set everything up (kernel/setup) and serve notebooks/ with
#                   the classic Jupyter Notebook on http://127.0.0.1:8888,
#                   token authentication on; the URL with the token is printed
#   make test       every test: gofmt, go vet, the Go tests of all packages
#                   (notebook execution included), and the browser test
#
# Docker runs `make notebook NOTEBOOK_IP=0.0.0.0`.

NOTEBOOK_IP   ?= 127.0.0.1
NOTEBOOK_PORT ?= 8888
NOTEBOOK_DIR  ?= notebooks
# The notebook whose heatmap the browser test photographs for
# docs/screenshot.png; the test runs it with the notebooks it always runs
# (02-attention-heads and 03-annotating, on a copy of notebooks/).
BROWSER_NOTEBOOK ?= notebooks/02-attention-heads.ipynb

# Notebooks and the library are built with the SIMD kernels of Go 1.26.
export GOEXPERIMENT := simd

GO_TEST_FLAGS ?=

.NOTPARALLEL:
.PHONY: notebook setup test test-setup fmt vet gotest e2e screenshot

notebook:
	kernel/setup
	NOTEBOOK_IP=$(NOTEBOOK_IP) NOTEBOOK_PORT=$(NOTEBOOK_PORT) kernel/serve $(NOTEBOOK_DIR)

setup:
	kernel/setup

test: test-setup fmt vet gotest e2e
	@echo "make test: all passed"

# Installs what the tests use (Jupyter, the lenskit kernel, Chromium) first,
# so that the notebook and browser tests never skip under make test.
test-setup:
	kernel/setup --with-browser

fmt:
	@bad=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi

# Vet with and without the experiment: the code must build both ways.
vet:
	go vet ./...
	GOEXPERIMENT= go vet ./...
	cd e2e && go vet ./...

# -count=1: the notebook and browser tests run the library through Jupyter,
# which go test's result cache cannot see, so a cached pass could be stale.
gotest:
	LENSKIT_REQUIRE_NOTEBOOKS=1 LENSKIT_REQUIRE_NPM=1 go test -count=1 -timeout 60m $(GO_TEST_FLAGS) ./...

e2e:
	cd e2e && LENSKIT_REQUIRE_BROWSER=1 go test -count=1 -timeout 30m $(GO_TEST_FLAGS) ./... \
		-notebook=$(CURDIR)/$(BROWSER_NOTEBOOK)

# Regenerates docs/screenshot.png (the README's picture) from a fresh run
# of BROWSER_NOTEBOOK in headless Chromium (that notebook only).
screenshot: test-setup
	cd e2e && LENSKIT_REQUIRE_BROWSER=1 go test -count=1 -run 'TestBrowserNotebooks/$(notdir $(BROWSER_NOTEBOOK))' ./... \
		-notebook=$(CURDIR)/$(BROWSER_NOTEBOOK) -screenshot=$(CURDIR)/docs/screenshot.png

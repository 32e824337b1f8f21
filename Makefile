# make build    bin/snapfs
# make test     everything CI runs: lint, unit and FUSE tests with -race, and
#               the end-to-end tests in a VM with real LVM (e2e.TestVM) and
#               in dom0 of a real Xen host under qemu (e2e.TestXen)
# make unit     the tests that need no VM
# make e2e      only the VM end-to-end tests (LVM and Xen), verbose
# make lint     gofmt, go vet, staticcheck
# make demo     a shell in a VM with real LVM and snapfs mounted on /mnt/snapfs
# make record   re-record testdata/lvm from real LVM in the VM
# make record-xen  re-record testdata/xen from real Xen in the VM
# make clean    remove what the targets above made

GO ?= go
STATICCHECK := $(or $(shell command -v staticcheck),$(shell $(GO) env GOPATH)/bin/staticcheck)

.PHONY: build test unit e2e lint deps demo record record-xen clean

build:
	$(GO) build -o bin/snapfs ./cmd/snapfs

# The end-to-end tests take minutes under emulation: hence the long timeout.
test: deps lint
	$(GO) test -race -count=1 -timeout 60m ./...

unit:
	$(GO) test -short ./...

e2e: deps
	$(GO) test -count=1 -timeout 60m -run '^Test(VM|Xen)$$' -v ./e2e

lint: $(STATICCHECK)
	@files=$$(gofmt -l .); if [ -n "$$files" ]; then echo "gofmt -l: $$files"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags vmguest ./...
	$(GO) vet -tags vmguest,xenguest ./...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags vmguest ./...
	$(STATICCHECK) -tags vmguest,xenguest ./...

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@latest

deps:
	scripts/ensure-deps

demo: deps build
	e2e/vm/run --interactive -- e2e/vm/demo

record: deps
	e2e/vm/run --rw testdata -- bash testdata/record-lvm.sh

record-xen: deps
	e2e/vm/run --xen --rw testdata -- bash testdata/record-xen.sh

clean:
	rm -rf bin .build .cache

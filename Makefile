# SPDX-License-Identifier: GPL-2.0-only
#
# qsnap: make            build driver/qsnap.ko and tools/qsnapctl
#        make KDIR=...   build the module against another kernel's build tree
#        make KERNEL=7.3 build the module for a pinned test kernel
#                        (tests/kernels.conf), in its build root if it has one
#        make deps       install the packages and guest kernels the tests need
#        make kernels-newer  say which pinned kernels Debian has moved past
#        make check      the whole test suite (make deps first; about an hour)
#        make check-host the host tiers: unit, diff, lint, 60 s of fuzzing
#        make check-vm   the VM tier; KERNELS="7.3" (or "6.1 7.3 debug",
#                        names of tests/kernels.conf) picks the guests,
#                        SUITES="hostile,differential"
#                        the kinds of tests (tests/vm/suites/)
#        make demo       boot a VM and show a snapshot mounted from /dev/qsnap0
#        make lint       checkpatch, sparse on every pinned kernel, i386
#        make fuzz       fuzz the qcow2 format code (FUZZ_TIME seconds, 300)
#        make bench      qsnap vs loop vs qemu-nbd in a VM (not part of check)
#        make install    module, qsnapctl (and mount.qsnap), man page, udev
#                        rule, completion
#                        (DESTDIR, PREFIX, KVER as usual; see docs/usage.md)

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
# udev reads rules from /etc and /usr/lib only, not from PREFIX.
UDEVRULESDIR ?= /etc/udev/rules.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
MODDIR ?= /lib/modules/$(KVER)/extra
CFLAGS ?= -O2 -g
export CFLAGS

FUZZ_TIME ?= 300

.PHONY: all module tools clean clean-module deps check check-host check-vm \
	unit demo lint fuzz bench kernels-newer \
	install install-module install-tools uninstall

all: module tools

# KERNEL names a pinned test kernel: its headers, where they build.
ifeq ($(KERNEL),)
module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) CONFIG_BLK_DEV_QSNAP=m W=1 modules
else
module:
	TOP=$(CURDIR) bash -c '. tests/kernels.sh && \
		kernel_make "$(KERNEL)" -C "$$(kernel_kdir "$(KERNEL)")" \
			M=$(CURDIR) CONFIG_BLK_DEV_QSNAP=m W=1 modules'
endif

tools:
	$(MAKE) -C tools

unit:
	$(MAKE) -C tests/unit run

deps:
	bash tests/vm/deps.sh

check:
	bash tests/run-all.sh

check-host:
	bash tests/run-all.sh --host

KERNELS ?=
SUITES ?=
check-vm:
	QSNAP_KERNELS="$(KERNELS)" QSNAP_SUITES="$(SUITES)" bash tests/run-all.sh --vm

demo:
	bash tests/vm/demo.sh

lint:
	bash tests/lint.sh

kernels-newer:
	bash tests/kernels-newer.sh

fuzz:
	bash tests/fuzz/run.sh $(FUZZ_TIME)

bench:
	bash tests/bench/run.sh

install: install-module install-tools

# depmod only for a real install: a DESTDIR is someone else's tree.
install-module: module
	install -D -m 644 driver/qsnap.ko $(DESTDIR)$(MODDIR)/qsnap.ko
	if [ -z "$(DESTDIR)" ]; then depmod -a $(KVER); fi

install-tools: tools
	install -D -m 755 tools/qsnapctl $(DESTDIR)$(SBINDIR)/qsnapctl
	# mount(8) looks for its helpers in /sbin, whatever the PREFIX.
	install -d $(DESTDIR)/sbin
	ln -sf $(SBINDIR)/qsnapctl $(DESTDIR)/sbin/mount.qsnap
	install -D -m 644 tools/qsnapctl.8 $(DESTDIR)$(MANDIR)/man8/qsnapctl.8
	install -d $(DESTDIR)$(UDEVRULESDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' tools/60-qsnap.rules.in \
		> $(DESTDIR)$(UDEVRULESDIR)/60-qsnap.rules
	install -D -m 644 tools/qsnapctl.bash-completion \
		$(DESTDIR)$(BASHCOMPDIR)/qsnapctl

uninstall:
	rm -f $(DESTDIR)$(MODDIR)/qsnap.ko $(DESTDIR)$(SBINDIR)/qsnapctl \
	      $(DESTDIR)/sbin/mount.qsnap \
	      $(DESTDIR)$(MANDIR)/man8/qsnapctl.8 \
	      $(DESTDIR)$(UDEVRULESDIR)/60-qsnap.rules \
	      $(DESTDIR)$(BASHCOMPDIR)/qsnapctl
	if [ -z "$(DESTDIR)" ]; then depmod -a $(KVER); fi

clean-module:
	@if [ -d "$(KDIR)" ]; then \
		$(MAKE) -C $(KDIR) M=$(CURDIR) clean; fi
	rm -f driver/*.o driver/*.ko driver/*.mod* driver/.*.cmd \
	      qcow2/*.o qcow2/.*.cmd \
	      driver/modules.order Module.symvers modules.order .*.cmd

clean: clean-module
	$(MAKE) -C tools clean
	$(MAKE) -C tests/unit clean
	rm -rf build

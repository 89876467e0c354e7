# SPDX-License-Identifier: GPL-2.0-only
#
# qsnap: make            build driver/qsnap.ko and tools/qsnapctl
#        make KDIR=...   build the module against another kernel's build tree
#        make check      the whole test suite (unit tests + VMs on 6.1, 6.12)
#        make demo       boot a VM and show a snapshot mounted from /dev/qsnap0
#        make lint       checkpatch + sparse over the driver, both kernels
#        make fuzz       fuzz the qcow2 format code (FUZZ_TIME seconds, 300)
#        make bench      qsnap vs loop vs qemu-nbd in a VM (not part of check)

KDIR ?= /lib/modules/$(shell uname -r)/build
CFLAGS ?= -O2 -g
export CFLAGS

FUZZ_TIME ?= 300

.PHONY: all module tools clean check unit demo lint fuzz bench

all: module tools

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) CONFIG_BLK_DEV_QSNAP=m W=1 modules

tools:
	$(MAKE) -C tools

unit:
	$(MAKE) -C tests/unit run

check:
	bash tests/run-all.sh

demo:
	bash tests/vm/demo.sh

lint:
	bash tests/lint.sh

fuzz:
	bash tests/fuzz/run.sh $(FUZZ_TIME)

bench:
	bash tests/bench/run.sh

clean:
	@if [ -d "$(KDIR)" ]; then \
		$(MAKE) -C $(KDIR) M=$(CURDIR) clean; fi
	rm -f driver/*.o driver/*.ko driver/*.mod* driver/.*.cmd \
	      driver/modules.order Module.symvers modules.order .*.cmd
	$(MAKE) -C tools clean
	$(MAKE) -C tests/unit clean
	rm -rf build

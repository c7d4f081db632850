# mk/robust.mk: make robust: crash consistency of the collection job.
# TRIALS runs of collect-from-gmail, each with a stage killed (SIGKILL) at
# a random moment and followed by a normal run, checked against an
# uninterrupted run (tests/robust/crash-trials.sh). Seeded: the seed is
# printed; replay one trial with  make robust SEED=s FIRST=n TRIALS=1.

TRIALS	?= 100

.PHONY: robust lint-robust

robust: deps
	@$(MAKE) --no-print-directory all
	TRIALS=$(TRIALS) $(if $(SEED),SEED=$(SEED)) $(if $(FIRST),FIRST=$(FIRST)) \
	    GMAIL_OPS_BIN=$(CURDIR)/$(OUT) sh tests/robust/crash-trials.sh

lint: lint-robust

lint-robust:
	shellcheck -S warning tests/robust/crash-trials.sh

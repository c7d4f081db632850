# valgrind.mk: `make valgrind`: the tools' suites with every tool under
# memcheck (tests/valgrind/run.sh); SUITES="mime-extract ..." narrows it.
.PHONY: valgrind
valgrind: deps
	@$(MAKE) --no-print-directory all
	sh tests/valgrind/run.sh $(SUITES)

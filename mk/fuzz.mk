# mk/fuzz.mk: libFuzzer targets for every parser of untrusted bytes
# (tests/fuzz/fuzz-NAME.c), and their replay in make check.
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="mime ndjson"]
#
# builds each target with clang -fsanitize=fuzzer,address,undefined into
# build/fuzz/ (lib/ compiled again there, with coverage), then runs them
# one after the other for FUZZ_SECONDS each (tests/fuzz/run). A target's
# corpus, build/fuzz/corpus/NAME, is seeded from the test fixtures
# (FUZZ_SEEDS_NAME), tests/fuzz/seeds/NAME and tests/fuzz/regress/NAME,
# and kept from run to run; its log is build/fuzz/log/NAME.log. A crash,
# a failed check, a leak, a timeout or too much memory fails make fuzz
# and names the input, build/fuzz/crash/NAME/crash-<sha1> (or leak-,
# timeout-, oom-). Replay it with build/fuzz/fuzz-NAME FILE; with the fix,
# add it to tests/fuzz/regress/NAME/. Leaks of GMime 3.2.13 itself are not
# counted (tests/fuzz/lsan.supp says which).
#
# make all (and make ASAN=1 all) also builds every target as a plain
# program, build/VARIANT/unit/fuzz-NAME (tests/fuzz/replay-main.c runs it
# on files), and tests/fuzz.bats replays the seeds and every regression
# input through them in make check.

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_OUT	 = build/fuzz
FUZZ_NAMES	 = $(patsubst tests/fuzz/fuzz-%.c,%,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_TARGETS	?= $(FUZZ_NAMES)
FUZZ_SAN	 = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS	 = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	-Wno-missing-field-initializers -O1 -g -fno-omit-frame-pointer \
	$(FUZZ_SAN) -Ilib $(PKG_CFLAGS)
# ops_die() exits: fuzz_try (tests/fuzz/common.c) wraps exit() to return.
FUZZ_LDFLAGS	 = -Wl,--wrap=exit
FUZZ_LIB_OBJ	 = $(LIB_SRC:lib/%.c=$(FUZZ_OUT)/lib/%.o)
FUZZ_HDRS	 = lib/gmailops.h tests/fuzz/common.h

# Seeds from the fixtures; each target also gets tests/fuzz/seeds/NAME.
FUZZ_SEEDS_mime		= tests/fixtures/mime etc/demo/mailbox
FUZZ_SEEDS_mime-src	= tests/fixtures/mime etc/demo/mailbox
FUZZ_SEEDS_ndjson	= $(wildcard tests/fixtures/*/*.ndjson)
FUZZ_SEEDS_json		= $(wildcard tests/fixtures/*/*.ndjson)
FUZZ_SEEDS_mail		= $(wildcard tests/fixtures/mail-send/*.ndjson)
FUZZ_SEEDS_config	= etc/gmail-ops.conf
# Bytes per input (libFuzzer's -max_len); unset: its default, 4096 or
# the largest seed.
FUZZ_MAX_LEN_mime	= 65536
FUZZ_MAX_LEN_mime-src	= 65536

.PHONY: fuzz fuzz-build lint-fuzz

fuzz: fuzz-build
	@status=0; $(foreach t,$(FUZZ_TARGETS),FUZZ_MAX_LEN=$(FUZZ_MAX_LEN_$(t)) \
	    sh tests/fuzz/run $(t) $(FUZZ_SECONDS) $(FUZZ_SEEDS_$(t)) || \
	    status=1;) exit $$status

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_OUT)/fuzz-%)

$(FUZZ_OUT)/lib/%.o: lib/%.c lib/gmailops.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_OUT)/libgmailops.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_OUT)/common.o: tests/fuzz/common.c $(FUZZ_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_OUT)/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_OUT)/common.o \
    $(FUZZ_OUT)/libgmailops.a $(FUZZ_HDRS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_LDFLAGS) -o $@ $< \
	    $(FUZZ_OUT)/common.o $(FUZZ_OUT)/libgmailops.a $(PKG_LIBS) -lm

# The replay programs, built with the variant's compiler and flags.
FUZZ_REPLAY	 = $(FUZZ_NAMES:%=$(OBJ)/unit/fuzz-%)

units: $(FUZZ_REPLAY)

$(OBJ)/fuzz/%.o: tests/fuzz/%.c $(FUZZ_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(OBJ)/unit/fuzz-%: tests/fuzz/fuzz-%.c $(OBJ)/fuzz/common.o \
    $(OBJ)/fuzz/replay-main.o $(LIB_A) $(FUZZ_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $(FUZZ_LDFLAGS) -o $@ $< \
	    $(OBJ)/fuzz/common.o $(OBJ)/fuzz/replay-main.o $(LIB_A) $(LDLIBS)

lint: lint-fuzz

lint-fuzz:
	shellcheck -S warning tests/fuzz/run

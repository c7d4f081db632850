# Makefile: gmail-ops — build the tools into bin/, test, install.
# GNU make; dependencies through pkg-config; `make check` and `make demo`
# install missing Debian packages first (scripts/install-deps).

PREFIX	?= /usr/local
DESTDIR	?=
BINDIR	 = $(PREFIX)/bin
LIBEXECDIR = $(PREFIX)/libexec/gmail-ops
MANDIR	 = $(PREFIX)/share/man
SYSCONFDIR = $(PREFIX)/etc/gmail-ops

CC	?= cc
PKGS	 = libcurl yajl openssl gmime-3.0 lmdb libmicrohttpd
# Lazy (=): evaluated after `deps` has had its chance to install them.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))

ifeq ($(ASAN),1)
VARIANT	 = asan
OPT	 = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
OUT	 = build/asan/bin
SANLD	 = -fsanitize=address,undefined
else
VARIANT	 = normal
OPT	 = -O2 -g -D_FORTIFY_SOURCE=2
OUT	 = bin
endif
OBJ	 = build/$(VARIANT)

override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	-Wno-missing-field-initializers $(OPT) -Ilib $(PKG_CFLAGS)
override LDFLAGS += $(SANLD)
LDLIBS	 = $(PKG_LIBS) -lm

TOOLS	 = $(patsubst tools/%.c,%,$(wildcard tools/*.c))
SCRIPTS	 = collect-from-gmail
LIB_SRC	 = $(wildcard lib/*.c)
LIB_OBJ	 = $(LIB_SRC:lib/%.c=$(OBJ)/lib/%.o)
LIB_A	 = $(OBJ)/libgmailops.a
UNIT_SRC = $(wildcard tests/unit/*.c)
UNITS	 = $(UNIT_SRC:tests/unit/%.c=$(OBJ)/unit/%)
MAN	 = $(wildcard man/*.[1-8])

.SECONDARY:

.PHONY: all asan check test deps demo install uninstall clean lint units bench

all: $(TOOLS:%=$(OUT)/%) units

asan:
	$(MAKE) ASAN=1 all

units: $(UNITS)

$(OBJ)/lib/%.o: lib/%.c lib/gmailops.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(OBJ)/tools/%.o: tools/%.c lib/gmailops.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(OUT)/%: $(OBJ)/tools/%.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OBJ)/unit/%: tests/unit/%.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

deps:
	@sh scripts/install-deps

# Every bats suite, on the normal build or (ASAN=1) the sanitised one.
check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory lint
	BATS_TEST_TIMEOUT=600 GMAIL_OPS_BIN=$(CURDIR)/$(OUT) \
	    GMAIL_OPS_UNITS=$(CURDIR)/$(OBJ)/unit \
	    bats --print-output-on-failure tests/

test: check

lint:
	mandoc -Tlint -W warning $(MAN)
	@if [ -n "$(SCRIPTS)" ]; then shellcheck -S warning $(SCRIPTS:%=scripts/%); fi
	shellcheck -S warning scripts/install-deps scripts/demo bench/collect-quota.sh bench/mail-track.sh \
	    bench/local-throughput.sh bench/peak-rss.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo

# Benchmarks: figures as ratios against peers and limits, in bench/results/.
bench: deps
	@$(MAKE) --no-print-directory all
	sh bench/collect-quota.sh
	sh bench/mail-track.sh
	@$(MAKE) --no-print-directory bench-local
	sh bench/summary.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)
	install -m 0755 $(TOOLS:%=$(OUT)/%) $(DESTDIR)$(BINDIR)
	for s in $(SCRIPTS); do install -m 0755 scripts/$$s $(DESTDIR)$(BINDIR); done
	for m in $(MAN); do \
	    install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}; done
	install -m 0644 etc/gmail-ops.conf $(DESTDIR)$(SYSCONFDIR)/gmail-ops.conf.example
	install -m 0644 etc/crontab.example etc/gmail-ops-collect.service \
	    etc/gmail-ops-collect.timer etc/mail-track.service etc/ops-httpd.service \
	    $(DESTDIR)$(SYSCONFDIR)

uninstall:
	rm -f $(TOOLS:%=$(DESTDIR)$(BINDIR)/%) $(SCRIPTS:%=$(DESTDIR)$(BINDIR)/%)
	for m in $(MAN); do rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; done

clean:
	rm -rf build bin

# More targets (fuzz, robust, valgrind, ...), one file each.
-include $(wildcard mk/*.mk)

#!/usr/bin/env bats
# make install: binaries, man pages and the example configuration land
# under DESTDIR/PREFIX.

load helpers

@test "make install PREFIX=/usr/local DESTDIR=... installs tools, pages, etc/" {
	d="$BATS_TEST_TMPDIR/root"
	run make -s -C "$TOP" install PREFIX=/usr/local DESTDIR="$d"
	assert_success
	for t in gmail-auth gmail-check gmail-api; do
		[ -x "$d/usr/local/bin/$t" ]
	done
	[ -f "$d/usr/local/share/man/man1/gmail-auth.1" ]
	[ -f "$d/usr/local/share/man/man5/gmail-ops.conf.5" ]
	[ -f "$d/usr/local/share/man/man7/gmail-ops.7" ]
	[ -f "$d/usr/local/etc/gmail-ops/gmail-ops.conf.example" ]
	"$d/usr/local/bin/gmail-check" --version
	run make -s -C "$TOP" uninstall PREFIX=/usr/local DESTDIR="$d"
	assert_success
	[ ! -e "$d/usr/local/bin/gmail-auth" ]
	[ ! -e "$d/usr/local/share/man/man1/gmail-auth.1" ]
}

@test "every man page passes mandoc -Tlint" {
	run mandoc -Tlint -W warning "$TOP"/man/*.[1-8]
	assert_success
	assert_output ""
}

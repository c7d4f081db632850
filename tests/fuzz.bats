#!/usr/bin/env bats
# The fuzz targets of tests/fuzz/ as plain programs (built by make all as
# $UNITS/fuzz-NAME): every seed and every input that once crashed one
# (tests/fuzz/regress/NAME/) goes through again, under ASan and LeakSanitizer
# in make check ASAN=1. make fuzz (mk/fuzz.mk) does the fuzzing itself.

load helpers

FUZZ="$TESTS_DIR/fuzz"

# replay NAME [seed ...]: the target on its seeds and regression inputs.
replay() {
	local name=$1 bin="$UNITS/fuzz-$1" args=()
	shift
	if [ ! -x "$bin" ]; then
		skip "$bin not built (make all builds it)"
	fi
	for d in "$@" "$FUZZ/seeds/$name" "$FUZZ/regress/$name"; do
		if [ -e "$d" ]; then
			args+=("$d")
		fi
	done
	[ "${#args[@]}" -gt 0 ] || skip "no inputs for $name"
	# Leaks count here (the ASan build), as in make fuzz.
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	    LSAN_OPTIONS="suppressions=$FUZZ/lsan.supp:print_suppressions=0" \
	    run "$bin" "${args[@]}"
	assert_success
}

@test "every target has a replay program, and every regression input a target" {
	for src in "$FUZZ"/fuzz-*.c; do
		name=${src##*/fuzz-}
		name=${name%.c}
		[ -x "$UNITS/fuzz-$name" ] ||
		    skip "$UNITS/fuzz-$name not built (make all builds it)"
	done
	for d in "$FUZZ"/regress/* "$FUZZ"/seeds/*; do
		[ -e "$d" ] || continue
		[ -f "$FUZZ/fuzz-${d##*/}.c" ] || fail "$d: no target ${d##*/}"
	done
}

@test "mime: parse, walk and decode" {
	replay mime "$TESTS_DIR/fixtures/mime" "$TOP/etc/demo/mailbox"
}

@test "mime-src: peek, mbox split, fetch records" {
	replay mime-src "$TESTS_DIR/fixtures/mime" "$TOP/etc/demo/mailbox"
}

@test "ndjson: the reader, by descriptor and by stream" {
	replay ndjson "$TESTS_DIR"/fixtures/*/*.ndjson
}

@test "json: parse and write back" {
	replay json "$TESTS_DIR"/fixtures/*/*.ndjson
}

@test "google-error: error bodies" {
	replay google-error
}

@test "config: the configuration file" {
	replay config "$TOP/etc/gmail-ops.conf"
}

@test "sanitize: receipt file names" {
	replay sanitize
}

@test "auth-results: Authentication-Results" {
	replay auth-results
}

@test "rfc3339: times and dates" {
	replay rfc3339
}

@test "b64: base64 and base64url" {
	replay b64
}

@test "form: forms, queries, the OAuth redirect" {
	replay form
}

@test "httpauth: Authorization, PBKDF2 hashes, CSRF tokens" {
	replay httpauth
}

@test "mail: mail-send requests, drafts, composing" {
	replay mail "$TESTS_DIR"/fixtures/mail-send/*.ndjson
}

@test "token: token answers and files" {
	replay token
}

#!/usr/bin/env bats
# The NDJSON reader and writer of lib/ (through tests/unit/ndjson-echo).

load helpers

@test "records round-trip compact, one per line" {
	run "$UNITS/ndjson-echo" <<'IN'
{ "id" : "a1",  "n": 2, "ok": true, "l": [1, 2.5, null], "o": {"k": "v"} }

{"id":"b2","s":"caf\u00e9 \"q\""}
IN
	assert_success
	assert_line --index 0 '{"id":"a1","n":2,"ok":true,"l":[1,2.5,null],"o":{"k":"v"}}'
	assert_line --index 1 '{"id":"b2","s":"café \"q\""}'
}

@test "a bad record in the middle: warned with its line, skipped, exit 1" {
	run "$UNITS/ndjson-echo" <<'IN'
{"id":1}
{"id":2,
[1,2]
{"id":4}
IN
	assert_failure 1
	assert_line --partial "ndjson-echo: line 2: "
	assert_line "ndjson-echo: line 3: not a JSON object"
	assert_line '{"id":1}'
	assert_line '{"id":4}'
	assert_line "ndjson-echo: 4 lines, 2 bad"
}

@test "a 40 MB line holding a raw message goes through" {
	python3 -c '
import sys
sys.stdout.write("{\"id\":\"big\",\"raw\":\"" + "QUJD" * (10 * 1024 * 1024) + "\"}\n{\"id\":\"next\"}\n")
' >"$BATS_TEST_TMPDIR/big.ndjson"
	"$UNITS/ndjson-echo" <"$BATS_TEST_TMPDIR/big.ndjson" >"$BATS_TEST_TMPDIR/out"
	[ "$(wc -c <"$BATS_TEST_TMPDIR/out")" -eq "$(wc -c <"$BATS_TEST_TMPDIR/big.ndjson")" ]
	cmp "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/big.ndjson"
}

@test "a line over the cap is refused alone; the next line is read" {
	run "$UNITS/ndjson-echo" 100 <<IN
{"id":"small"}
{"id":"$(printf 'x%.0s' $(seq 1 200))"}
{"id":"after"}
IN
	assert_failure 1
	assert_line "ndjson-echo: line 2: longer than 100 bytes, skipped"
	assert_line '{"id":"small"}'
	assert_line '{"id":"after"}'
}

@test "the cap is exact: a line of 100 bytes passes a cap of 100, one of 101 does not" {
	run "$UNITS/ndjson-echo" 100 <<IN
{"id":"$(printf 'x%.0s' $(seq 1 91))"}
{"id":"$(printf 'x%.0s' $(seq 1 92))"}
IN
	assert_failure 1
	assert_line --index 0 "{\"id\":\"$(printf 'x%.0s' $(seq 1 91))\"}"
	assert_line "ndjson-echo: line 2: longer than 100 bytes, skipped"
	assert_line "ndjson-echo: 2 lines, 1 bad"
}

@test "a last line without newline, NUL bytes and invalid UTF-8" {
	run "$UNITS/ndjson-echo" < <(printf '{"a":1}\n{"b":"\0"}\n{"c":"\xff"}\n{"d":4}')
	assert_failure 1
	assert_line '{"a":1}'
	assert_line '{"d":4}'
	assert_line "ndjson-echo: line 2: NUL byte in JSON text"
	assert_line --partial "ndjson-echo: line 3: "
}

@test "a record nested a million deep is a bad line, not a crash" {
	python3 -c '
import sys
d = 1000000
sys.stdout.write("{\"a\":" + "[" * d + "]" * d + "}\n")
sys.stdout.write("{\"b\":" + "[" * 99 + "]" * 99 + "}\n")
sys.stdout.write("{\"c\":\"[[[\", \"d\":[1] /* ]]] */}\n")
' >"$BATS_TEST_TMPDIR/deep.ndjson"
	run "$UNITS/ndjson-echo" <"$BATS_TEST_TMPDIR/deep.ndjson"
	assert_failure 1
	assert_line "ndjson-echo: line 1: nested deeper than 100 levels"
	assert_line '{"b":'"$(printf '[%.0s' $(seq 99))$(printf ']%.0s' $(seq 99))"'}'
	assert_line '{"c":"[[[","d":[1]}'
	assert_line "ndjson-echo: 3 lines, 1 bad"
}

@test "a write error on stdout is an error, not success" {
	run bash -c "echo '{\"a\":1}' | '$UNITS/ndjson-echo' >/dev/full"
	assert_failure 74
	assert_output --partial "write error"
}

@test "records stream: each reaches the next stage before the writer closes" {
	# the reader prints record 1 while the writer still holds the pipe open
	run bash -c "(printf '{\"n\":1}\n'; sleep 2; printf '{\"n\":2}\n') | \
	    (timeout 1 '$UNITS/ndjson-echo'; true)"
	assert_line '{"n":1}'
	refute_line '{"n":2}'
}

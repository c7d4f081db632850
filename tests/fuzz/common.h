/* common.h: what the fuzz targets share (tests/fuzz/common.c). */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* libFuzzer's entry points, which every target defines (Initialize is
 * optional). */
int	 LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	 LLVMFuzzerInitialize(int *argc, char ***argv);

/* A NUL-terminated copy of the input up to its first NUL, allocated to
 * its exact size so that an over-read is seen. Caller frees. */
char	*fuzz_str(const uint8_t *data, size_t size);
/* A memory file holding the bytes, offset 0: fd (caller closes). */
int	 fuzz_memfd(const void *data, size_t size);
/* A stdio stream over the bytes with no descriptor (fileno -1), as a
 * cookie stream is; caller fcloses. */
FILE	*fuzz_memstream(const void *data, size_t size);
/* A private directory for this process, made on first use; static. */
const char *fuzz_tmpdir(void);
/* Writes the bytes to dir/name (0600), replacing it; the path, static. */
const char *fuzz_file(const char *name, const void *data, size_t size);
/* Runs fn(arg): 0 when it returned, or 256 + status when it called
 * exit() (ops_die: bad input, by design); what it allocated and did
 * not free is then freed, so that dying is not a leak. Needs the
 * program linked with -Wl,--wrap=exit. */
int	 fuzz_try(void (*fn)(void *), void *arg);
/* Is s (n bytes) valid UTF-8: no overlong forms, no surrogates, nothing
 * above U+10FFFF? */
int	 fuzz_utf8_ok(const char *s, size_t n);
/* A broken promise: names it and aborts, so the fuzzer keeps the input. */
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : \
	fuzz_fail(#cond, __FILE__, __LINE__))
void	 fuzz_fail(const char *what, const char *file, int line)
	    __attribute__((noreturn));

#endif

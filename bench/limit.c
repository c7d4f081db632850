/* limit.c: the limit of bench/local-throughput.sh: for the same attachment
 * bytes, the least work any extractor must do: read each message file,
 * base64-decode its attachments, SHA-256 them and write each to its own
 * file. Where the attachments are is not parsed but read from the
 * generator's manifest (file, offset and length of the base64 text), so
 * no MIME parsing is counted.
 *
 * usage: limit [-s] MANIFEST MAILDIR OUTDIR
 *   -s  also fsync each file and, per message, OUTDIR (what a durable
 *       store must add; for scale, not the goal's limit)
 *
 * Prints one JSON object: messages, attachments, bytes, and mismatches
 * (decoded size or sha256 unlike the manifest's: must be 0).
 * Build: cc -O2 -o limit limit.c $(pkg-config --cflags --libs libcrypto) */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#define MAX_FILE	(256u << 20)	/* a message, at most */

static unsigned char dec[256];

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "limit: %s: %s\n", what, why);
	exit(1);
}

static void
init_table(void)
{
	const char *alpha =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int i;

	memset(dec, 0x80, sizeof(dec));
	for (i = 0; i < 64; i++)
		dec[(unsigned char)alpha[i]] = (unsigned char)i;
}

/* Decodes base64 text in into out, skipping line breaks and anything
 * else outside the alphabet, stopping at '='; returns the bytes written.
 * Whole groups of four take the fast path. */
static size_t
b64_decode(const unsigned char *in, size_t len, unsigned char *out)
{
	const unsigned char *end = in + len;
	unsigned char *o = out;
	unsigned int acc = 0, n = 0, a, b, c, d;

	while (in < end) {
		if (end - in >= 4 && n == 0) {
			a = dec[in[0]];
			b = dec[in[1]];
			c = dec[in[2]];
			d = dec[in[3]];
			if (((a | b | c | d) & 0x80) == 0) {
				acc = a << 18 | b << 12 | c << 6 | d;
				o[0] = (unsigned char)(acc >> 16);
				o[1] = (unsigned char)(acc >> 8);
				o[2] = (unsigned char)acc;
				o += 3;
				in += 4;
				continue;
			}
		}
		if (*in == '=')
			break;
		a = dec[*in++];
		if (a & 0x80)
			continue;
		acc = acc << 6 | a;
		if (++n == 4) {
			*o++ = (unsigned char)(acc >> 16);
			*o++ = (unsigned char)(acc >> 8);
			*o++ = (unsigned char)acc;
			acc = 0;
			n = 0;
		}
	}
	if (n == 2) {
		*o++ = (unsigned char)(acc >> 4);
	} else if (n == 3) {
		*o++ = (unsigned char)(acc >> 10);
		*o++ = (unsigned char)(acc >> 2);
	}
	return (size_t)(o - out);
}

static size_t
read_all(const char *path, unsigned char *buf)
{
	ssize_t r;
	size_t got = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		die(path, strerror(errno));
	for (;;) {
		r = read(fd, buf + got, MAX_FILE - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die(path, strerror(errno));
		if (r == 0)
			break;
		got += (size_t)r;
		if (got == MAX_FILE)
			die(path, "too large");
	}
	close(fd);
	return got;
}

static void
write_all(int fd, const unsigned char *p, size_t len, const char *path)
{
	ssize_t w;

	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			die(path, strerror(errno));
		p += w;
		len -= (size_t)w;
	}
}

int
main(int argc, char *argv[])
{
	char line[8192], cur[4096] = "", path[8192], hex[65];
	unsigned char *msg, *out, md[32];
	unsigned long long off, len, size, bytes = 0;
	unsigned long messages = 0, atts = 0, bad = 0;
	size_t got = 0, n;
	FILE *man;
	char file[4096], sha[65], kind[16];
	int sync = 0, fd, dfd, i;

	if (argc > 1 && strcmp(argv[1], "-s") == 0) {
		sync = 1;
		argc--;
		argv++;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: limit [-s] MANIFEST MAILDIR OUTDIR\n");
		return 2;
	}
	init_table();
	msg = malloc(MAX_FILE);
	out = malloc(MAX_FILE);
	if (msg == NULL || out == NULL)
		die("malloc", strerror(errno));
	man = fopen(argv[1], "r");
	if (man == NULL)
		die(argv[1], strerror(errno));
	if (mkdir(argv[3], 0700) != 0 && errno != EEXIST)
		die(argv[3], strerror(errno));
	dfd = open(argv[3], O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		die(argv[3], strerror(errno));
	while (fgets(line, sizeof(line), man) != NULL) {
		if (sscanf(line, "%4095[^\t]\t%llu\t%llu\t%llu\t%64s\t%15s", file,
		    &off, &len, &size, sha, kind) != 6)
			die(argv[1], "bad line");
		if (strcmp(file, cur) != 0) {
			if (sync && messages > 0 && fsync(dfd) != 0)
				die(argv[3], strerror(errno));
			snprintf(cur, sizeof(cur), "%s", file);
			snprintf(path, sizeof(path), "%s/%s", argv[2], file);
			got = read_all(path, msg);
			messages++;
		}
		if (off + len > got)
			die(path, "manifest points past the end");
		n = b64_decode(msg + off, len, out);
		if (EVP_Digest(out, n, md, NULL, EVP_sha256(), NULL) != 1)
			die("EVP_Digest", "failed");
		for (i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		if (n != size || strcmp(hex, sha) != 0)
			bad++;
		snprintf(path, sizeof(path), "%s/%07lu.%s", argv[3], atts, kind);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
		if (fd < 0)
			die(path, strerror(errno));
		write_all(fd, out, n, path);
		if (sync && fsync(fd) != 0)
			die(path, strerror(errno));
		if (close(fd) != 0)
			die(path, strerror(errno));
		atts++;
		bytes += n;
	}
	if (sync && messages > 0 && fsync(dfd) != 0)
		die(argv[3], strerror(errno));
	printf("{\"messages\":%lu,\"attachments\":%lu,\"bytes\":%llu,"
	    "\"mismatches\":%lu}\n", messages, atts, bytes, bad);
	return bad != 0;
}

/* mime_sniff.c: a part's type from its first bytes, whatever it declares,
 * and the integrity checks that need only its last bytes: a file cut short
 * in transit or by a broken mailer lacks its end marker. */
#include <stdint.h>
#include <string.h>

#include "gmailops.h"

/* "%PDF-" may follow some junk: readers look for it in the first KiB. */
static int
is_pdf(const unsigned char *p, size_t n)
{
	return memmem(p, n < 1024 ? n : 1024, "%PDF-", 5) != NULL;
}

/* Printable UTF-8 text: no control bytes but tab, CR, LF and FF, no bad
 * sequence. A sequence cut by the end of head is fine: head is a prefix. */
static int
is_text(const unsigned char *p, size_t n)
{
	size_t i = 0, k, len;

	while (i < n) {
		unsigned char c = p[i];

		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' &&
			    c != '\f') || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4;
		else
			return 0;
		for (k = 1; k < len; k++) {
			if (i + k == n)
				return 1;
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
		}
		i += len;
	}
	return 1;
}

const char *
ops_mime_sniff(const unsigned char *head, size_t n)
{
	static const unsigned char png[8] = {
		0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
	};

	if (n == 0)
		return "application/octet-stream";
	if (is_pdf(head, n))
		return "application/pdf";
	if (n >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff)
		return "image/jpeg";
	if (n >= 8 && memcmp(head, png, 8) == 0)
		return "image/png";
	if (n >= 6 && (memcmp(head, "GIF87a", 6) == 0 ||
	    memcmp(head, "GIF89a", 6) == 0))
		return "image/gif";
	if (n >= 4 && memcmp(head, "PK\003\004", 4) == 0)
		return "application/zip";
	if (n >= 12 && memcmp(head, "RIFF", 4) == 0 &&
	    memcmp(head + 8, "WEBP", 4) == 0)
		return "image/webp";
	/* ISO base media: phones send HEIC photos. */
	if (n >= 12 && memcmp(head + 4, "ftyp", 4) == 0 &&
	    (memcmp(head + 8, "heic", 4) == 0 ||
	    memcmp(head + 8, "heix", 4) == 0 ||
	    memcmp(head + 8, "mif1", 4) == 0 ||
	    memcmp(head + 8, "msf1", 4) == 0))
		return "image/heic";
	if (n >= 4 && (memcmp(head, "II*\0", 4) == 0 ||
	    memcmp(head, "MM\0*", 4) == 0))
		return "image/tiff";
	if (is_text(head, n))
		return "text/plain";
	return "application/octet-stream";
}

/* Trailing padding some producers leave after the end marker. */
static size_t
unpadded(const unsigned char *p, size_t n)
{
	while (n > 0 && (p[n - 1] == '\0' || p[n - 1] == ' ' ||
	    p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
		n--;
	return n;
}

const char *
ops_mime_defect(const char *sniffed, uint64_t size, const unsigned char *tail,
    size_t n)
{
	static const unsigned char iend[8] = {
		'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82
	};

	if (size == 0)
		return "empty";
	if (strcmp(sniffed, "application/pdf") == 0) {
		if (memmem(tail, n, "%%EOF", 5) == NULL)
			return "PDF without %%EOF";
	} else if (strcmp(sniffed, "image/jpeg") == 0) {
		n = unpadded(tail, n);
		if (n < 2 || tail[n - 2] != 0xff || tail[n - 1] != 0xd9)
			return "JPEG without end marker";
	} else if (strcmp(sniffed, "image/png") == 0) {
		if (memmem(tail, n, iend, sizeof(iend)) == NULL)
			return "PNG without IEND";
	}
	return NULL;
}

/* fuzz-config: the KEY=value configuration file parser (ops_config_load:
 * comments, "export", quotes and escapes, booleans, sizes with K/M/G,
 * lists, paths), then every accessor. A bad file dies with 78 by design:
 * fuzz_try turns that into a return. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"
#include "common.h"

static const char *const keys_str[] = { "QUERY", "LABEL_IMPORTED",
	"SEND_MODE", "GMAIL_USER", NULL };
static const char *const keys_int[] = { "MAX_SIZE_BYTES", "HTTP_TIMEOUT",
	"QUOTA_LIMIT", NULL };
static const char *const keys_list[] = { "SCOPES", "ALLOWED_SENDERS",
	"ALLOWED_MIME_TYPES", NULL };
static const char *const keys_path[] = { "BASE_DIR", "CREDENTIALS_DIR",
	"STORAGE_INCOMING_DIR", "HTTPD_USERS_FILE", NULL };

struct load {
	const char		*path;
	struct ops_config	*c;
};

static void
load(void *arg)
{
	struct load *l = arg;

	l->c = ops_config_load(l->path);
}

static void
use(const struct ops_config *c)
{
	char *const *list;
	const char *path;
	char *s, *dump;
	size_t i, k, len;
	FILE *fp;

	for (i = 0; keys_str[i] != NULL; i++)
		FUZZ_CHECK(ops_config_str(c, keys_str[i]) != NULL);
	for (i = 0; keys_int[i] != NULL; i++)
		FUZZ_CHECK(ops_config_int(c, keys_int[i]) >= 0);
	for (i = 0; keys_list[i] != NULL; i++) {
		list = ops_config_list(c, keys_list[i]);
		for (k = 0; list[k] != NULL; k++)
			FUZZ_CHECK(*list[k] != '\0' &&
			    strchr(list[k], ',') == NULL);
	}
	for (i = 0; keys_path[i] != NULL; i++) {
		path = ops_config_path(c, keys_path[i]);
		FUZZ_CHECK(path != NULL && (*path == '\0' || *path == '/'));
	}
	(void)ops_config_bool(c, "DRY_RUN");
	s = ops_config_scopes(c);
	free(s);
	s = ops_config_var(c, "db");
	free(s);
	fp = open_memstream(&dump, &len);
	FUZZ_CHECK(fp != NULL);
	ops_config_dump(c, fp);
	fclose(fp);
	free(dump);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const seed_env[] = { "GMAIL_USER",
		"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_SERVICE_ACCOUNT_EMAIL",
		"SEND_MODE", "ENABLE_TRACKING", "PIXEL_TRACKER_BASE_URL",
		"PIXEL_COLLECTION", "DRAFT_COLLECTION", NULL };
	char **e, name[256];
	size_t i, n;

	(void)argc, (void)argv;
	ops_setprogname("fuzz-config");
	/* Only the file counts: nothing from the environment. */
	for (i = 0; seed_env[i] != NULL; i++)
		unsetenv(seed_env[i]);
	for (e = environ; *e != NULL; ) {
		n = strcspn(*e, "=");
		if (strncmp(*e, OPS_ENV_PREFIX, strlen(OPS_ENV_PREFIX)) == 0 &&
		    n < sizeof(name)) {
			memcpy(name, *e, n);
			name[n] = '\0';
			unsetenv(name);
		} else
			e++;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct load l;
	char path[64];
	int fd;

	fd = fuzz_memfd(data, size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	l.path = path;
	l.c = NULL;
	if (fuzz_try(load, &l) == 0) {
		FUZZ_CHECK(l.c != NULL);
		FUZZ_CHECK(strcmp(ops_config_file(l.c), path) == 0);
		use(l.c);
		ops_config_free(l.c);
	}
	close(fd);
	return 0;
}

/* store_map.c: a string → string hash map with open addressing, for the
 * sets a run keeps (sha256s seen, names chosen, files found). */
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

struct slot {
	char	*key;		/* NULL: empty */
	char	*val;
};

struct ops_strmap {
	struct slot	*slots;
	size_t		 size;	/* a power of two */
	size_t		 used;
};

static size_t
hash(const char *s)
{
	size_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

struct ops_strmap *
ops_strmap_new(void)
{
	struct ops_strmap *m = ops_xmalloc(sizeof(*m));

	m->size = 64;
	m->used = 0;
	m->slots = ops_xmalloc(m->size * sizeof(*m->slots));
	memset(m->slots, 0, m->size * sizeof(*m->slots));
	return m;
}

void
ops_strmap_free(struct ops_strmap *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->size; i++) {
		free(m->slots[i].key);
		free(m->slots[i].val);
	}
	free(m->slots);
	free(m);
}

static struct slot *
find(const struct ops_strmap *m, const char *key)
{
	size_t i = hash(key) & (m->size - 1);

	while (m->slots[i].key != NULL && strcmp(m->slots[i].key, key) != 0)
		i = (i + 1) & (m->size - 1);
	return &m->slots[i];
}

static void
grow(struct ops_strmap *m)
{
	struct slot *old = m->slots;
	size_t n = m->size, i;

	m->size *= 2;
	m->slots = ops_xmalloc(m->size * sizeof(*m->slots));
	memset(m->slots, 0, m->size * sizeof(*m->slots));
	for (i = 0; i < n; i++)
		if (old[i].key != NULL)
			*find(m, old[i].key) = old[i];
	free(old);
}

int
ops_strmap_add(struct ops_strmap *m, const char *key, const char *val)
{
	struct slot *sl;

	if ((m->used + 1) * 2 > m->size)
		grow(m);
	sl = find(m, key);
	if (sl->key != NULL)
		return 0;
	sl->key = ops_xstrdup(key);
	sl->val = ops_xstrdup(val != NULL ? val : "");
	m->used++;
	return 1;
}

const char *
ops_strmap_get(const struct ops_strmap *m, const char *key)
{
	const struct slot *sl = find(m, key);

	return sl->key != NULL ? sl->val : NULL;
}

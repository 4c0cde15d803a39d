/* names.c - API name -> safe, stable, bounded file name. A leaf
 * apart from nametab (the names in use).
 *
 * See names.h for the rules. Stability matters more than beauty: a script
 * that found "payments-api" yesterday must find it today, whatever was
 * added beside it, so the plain name goes to the exact match.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/nametab.h"
#include "apisecfs/names.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool names_sanitize(const char *in, char *out, size_t outsz)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	size_t max = outsz - 1 < NAMES_BASE_MAX ? outsz - 1 : NAMES_BASE_MAX;
	size_t o = 0;
	bool changed = false;

	while (*s) {
		size_t n = utf8_len(s);
		if (n == 0 ||
		    (n == 1 && (*s < 0x20 || *s == 0x7f || *s == '/'))) {
			if (o + 1 > max) {
				changed = true;
				break;
			}
			out[o++] = '_';
			s++;
			changed = true;
			continue;
		}
		if (o + n > max) {
			changed = true;
			break;
		}
		memcpy(out + o, s, n);
		o += n;
		s += n;
	}
	out[o] = '\0';
	if (o == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0) {
		memmove(out + 1, out, o + 1);
		out[0] = '_';
		changed = true;
	}
	return changed;
}

struct order {
	size_t idx;
	char *base; /* sanitized; malloc'd: 100,000 entries of a listing */
	bool exact;
};

static int cmp_order(const void *pa, const void *pb, void *arg)
{
	const struct order *a = pa, *b = pb;
	const struct names_entry *e = arg;
	int c = strcmp(a->base, b->base);
	if (c)
		return c;
	if (a->exact != b->exact)
		return a->exact ? -1 : 1;
	const char *ia = e[a->idx].id ? e[a->idx].id : "";
	const char *ib = e[b->idx].id ? e[b->idx].id : "";
	c = strcmp(ia, ib);
	if (c)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

void names_first_choice(const char *api_name, const char *id, const char *ext,
			char *out, size_t outsz)
{
	char base[NAMES_BASE_MAX + 3];
	names_sanitize(api_name ? api_name : id ? id : "", base, sizeof(base));
	snprintf(out, outsz, "%s%s", base, ext ? ext : "");
}

void names_home(const char *id, const char *ext, const char *const *reserved,
		char *out, size_t outsz)
{
	char base[NAMES_BASE_MAX + 3];
	names_sanitize(id ? id : "", base, sizeof(base));
	if (!ext)
		ext = "";
	snprintf(out, outsz, "%s%s", base, ext);
	for (; reserved && *reserved; reserved++) {
		if (strcmp(out, *reserved) == 0) {
			/* As names_assign: "~" and the id before the
			 * extension (the id is the name here). */
			char idpart[NAMES_ID_MAX + 3];
			names_sanitize(id ? id : "", idpart, NAMES_ID_MAX + 1);
			snprintf(out, outsz, "%s~%s%s", base, idpart, ext);
			break;
		}
	}
}

int names_assign(struct names_entry *e, size_t n, const char *ext,
		 const char *const *reserved)
{
	/* Names in use, by the entries that hold them: a pointer a name,
	 * where a uthash entry each made 100,000 findings cost 10 MB. */
	struct nametab used;
	nametab_init(&used, offsetof(struct names_entry, name), false);
	static char *const none[] = { NULL };
	if (!reserved)
		reserved = (const char *const *)none;
	size_t nres = 0;
	while (reserved[nres])
		nres++;
	struct order *ord = calloc(n ? n : 1, sizeof(*ord));
	struct names_entry *res = calloc(nres + 1, sizeof(*res));
	int rc = -1;

	if (!ord || !res) {
		free(ord);
		free(res);
		return -1;
	}
	if (!ext)
		ext = "";
	for (size_t i = 0; i < n; i++) {
		const char *api = e[i].api_name ? e[i].api_name : e[i].id;
		char base[NAMES_BASE_MAX + 3];
		ord[i].idx = i;
		ord[i].exact = !names_sanitize(api, base, sizeof(base));
		ord[i].base = strdup(base);
		e[i].name = NULL;
		if (!ord[i].base)
			goto out;
	}
	qsort_r(ord, n, sizeof(*ord), cmp_order, e);

	/* Reserved names are claimed first, by entries of their own. */
	for (size_t i = 0; i < nres; i++) {
		res[i].name = (char *)reserved[i];
		if (!nametab_find(&used, reserved[i]) &&
		    nametab_add(&used, &res[i]))
			goto out;
	}

	for (size_t k = 0; k < n; k++) {
		struct names_entry *en = &e[ord[k].idx];
		char name[NAMES_BASE_MAX + NAMES_ID_MAX + 32];
		char idpart[NAMES_ID_MAX + 3];

		snprintf(name, sizeof(name), "%s%s", ord[k].base, ext);
		if (nametab_find(&used, name)) {
			names_sanitize(en->id ? en->id : "", idpart,
				       NAMES_ID_MAX + 1);
			snprintf(name, sizeof(name), "%s~%s%s", ord[k].base,
				 idpart, ext);
			/* Duplicate ids (hostile data): count up. */
			for (unsigned dup = 2; nametab_find(&used, name);
			     dup++)
				snprintf(name, sizeof(name), "%s~%s~%u%s",
					 ord[k].base, idpart, dup, ext);
		}
		en->name = strdup(name);
		if (!en->name || nametab_add(&used, en))
			goto out;
	}
	rc = 0;
out:
	nametab_free(&used);
	free(res);
	if (rc) {
		for (size_t i = 0; i < n; i++) {
			free(e[i].name);
			e[i].name = NULL;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(ord[i].base);
	free(ord);
	return rc;
}

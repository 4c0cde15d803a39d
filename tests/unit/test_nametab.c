/* test_nametab.c - children by name: adds and deletions in random order
 * (tombstones must not cut probe chains nor be counted as entries),
 * deleting while iterating (every object met exactly once), and names
 * that differ in one byte. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/nametab.h"
#include "check.h"

struct obj {
	int pad;
	char *name;
	bool in;
	int seen;
};

#define N 30000

static size_t verify(const struct nametab *t, struct obj *v, size_t n)
{
	size_t bad = 0, in = 0;
	for (size_t i = 0; i < n; i++) {
		void *got = nametab_find(t, v[i].name);
		if (got != (v[i].in ? &v[i] : NULL))
			bad++;
		in += v[i].in;
	}
	if (in != nametab_count(t))
		bad++;
	return bad;
}

int main(void)
{
	static struct obj v[N];
	struct nametab t;
	nametab_init(&t, offsetof(struct obj, name), false);
	CHECK(nametab_find(&t, "x") == NULL);
	size_t pos = 0;
	CHECK(nametab_next(&t, &pos) == NULL);
	for (size_t i = 0; i < N; i++) {
		char buf[32];
		snprintf(buf, sizeof(buf), "vuln_%05zu.json", i);
		v[i].name = strdup(buf);
		CHECK(v[i].name != NULL);
	}
	/* Random adds and deletions, checked against the truth. */
	for (int round = 0; round < 6; round++) {
		for (size_t k = 0; k < N; k++) {
			struct obj *o = &v[check_rnd() % N];
			if (o->in) {
				nametab_del(&t, o);
				o->in = false;
			} else {
				o->in = nametab_add(&t, o) == 0;
				CHECK(o->in);
			}
		}
		CHECK(verify(&t, v, N) == 0);
	}
	/* A name that differs in one byte is another name. */
	struct obj other = { .name = "vuln_00001.jsoN" };
	CHECK(nametab_find(&t, other.name) == NULL);
	nametab_del(&t, &other); /* not in the table: nothing happens */
	CHECK(verify(&t, v, N) == 0);
	/* Iterate, deleting every other object met: each is met once. */
	struct obj *o;
	size_t met = 0, kept = 0;
	for (pos = 0; (o = nametab_next(&t, &pos)); pos++) {
		o->seen++;
		if (met++ % 2) {
			nametab_del(&t, o);
			o->in = false;
		} else {
			kept++;
		}
	}
	size_t twice = 0;
	for (size_t i = 0; i < N; i++)
		twice += v[i].seen > 1;
	CHECK(twice == 0);
	CHECK(nametab_count(&t) == kept);
	CHECK(verify(&t, v, N) == 0);
	/* Adds after many deletions reuse the tombstones' room. */
	for (size_t i = 0; i < N; i++)
		if (!v[i].in)
			v[i].in = nametab_add(&t, &v[i]) == 0;
	CHECK(nametab_count(&t) == N);
	CHECK(t.nslots <= 4 * (size_t)N * 2);
	CHECK(verify(&t, v, N) == 0);
	nametab_free(&t);
	for (size_t i = 0; i < N; i++)
		free(v[i].name);
	return check_report("test_nametab");
}

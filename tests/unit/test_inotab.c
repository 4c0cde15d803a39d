/* test_inotab.c - the table by number: random keys make long clusters,
 * so adds and deletions in random order test the backward shift (a wrong
 * shift loses entries or cuts probe chains); sequential keys as well. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "apisecfs/inotab.h"
#include "check.h"

struct obj {
	char pad[8];
	uint64_t key;
	bool in;
};

#define N 40000

static size_t verify(const struct inotab *t, struct obj *v, size_t n)
{
	size_t bad = 0, in = 0;
	for (size_t i = 0; i < n; i++) {
		void *got = inotab_find(t, v[i].key);
		bad += v[i].in ? got != &v[i] : got != NULL;
		in += v[i].in;
	}
	return bad + (in != t->count);
}

static void run(struct obj *v, bool sequential)
{
	struct inotab t;
	inotab_init(&t, offsetof(struct obj, key));
	CHECK(inotab_find(&t, 1) == NULL);
	for (size_t i = 0; i < N; i++) {
		v[i].key = sequential ? i + 2 : check_rnd() | 1;
		v[i].in = inotab_add(&t, &v[i]) == 0;
		CHECK(v[i].in);
	}
	CHECK(verify(&t, v, N) == 0);
	/* Delete and re-add in random order, checking as we go. */
	size_t bad = 0;
	for (int round = 0; round < 4; round++) {
		for (size_t k = 0; k < N / 2; k++) {
			struct obj *o = &v[check_rnd() % N];
			if (o->in) {
				inotab_del(&t, o);
				o->in = false;
			} else if (inotab_add(&t, o) == 0) {
				o->in = true;
			}
		}
		bad += verify(&t, v, N);
	}
	CHECK(bad == 0);
	/* Deleting something not in the table changes nothing. */
	struct obj stranger = { .key = v[0].key };
	size_t before = t.count;
	inotab_del(&t, &stranger);
	CHECK(t.count == before && verify(&t, v, N) == 0);
	/* Iterate: each object once. Then empty it as teardown does. */
	size_t seen = 0, pos;
	struct obj *o;
	for (pos = 0; (o = inotab_next(&t, &pos)); pos++)
		seen += o->in && inotab_find(&t, o->key) == o;
	CHECK(seen == t.count);
	for (pos = 0; (o = inotab_next(&t, &pos));) {
		inotab_del(&t, o);
		o->in = false;
	}
	CHECK(t.count == 0 && verify(&t, v, N) == 0);
	inotab_free(&t);
}

int main(void)
{
	static struct obj v[N];
	run(v, false);
	run(v, true);
	return check_report("test_inotab");
}

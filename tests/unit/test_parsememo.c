/* test_parsememo.c - parsememo.c: a page version is parsed once and every
 * walker reads the same tree; a new version is parsed again while the old
 * tree stays valid for whoever holds it; the budget bounds what is kept
 * (0 keeps nothing, the oldest go first); a body that is not JSON is
 * refused with EINVAL; walkers on several threads share one parse, and
 * json's per-thread render memo stays right across shared pages. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "apisecfs/buf.h"
#include "apisecfs/json.h"
#include "apisecfs/parsememo.h"
#include "check.h"

static const char PAGE1[] =
	"{\"items\":[{\"id\":\"a\",\"n\":1},{\"id\":\"b\",\"n\":2}],"
	"\"nextToken\":\"t\"}";
static const char PAGE2[] =
	"{\"items\":[{\"id\":\"a\",\"n\":3}],\"nextToken\":null}";

static struct parsememo_stats stats(void)
{
	struct parsememo_stats s;
	parsememo_get_stats(&s);
	return s;
}

static const char *first_id(const cJSON *page)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items");
	return json_str(cJSON_GetArrayItem(items, 0), "id");
}

static void test_once_per_version(void)
{
	parsememo_init(1 << 20);
	struct parsememo_ref *r1, *r2, *r3;
	const cJSON *t1 = parsememo_get("/p?1", 1, PAGE1, strlen(PAGE1), &r1);
	const cJSON *t2 = parsememo_get("/p?1", 1, PAGE1, strlen(PAGE1), &r2);
	CHECK(t1 && t1 == t2 && r1 == r2);
	CHECK(stats().parses == 1 && stats().hits == 1);
	CHECK(stats().bytes > 0);
	parsememo_put(r2);
	/* A new version of the page: parsed again; the old tree still holds
	 * for the walker that has it. */
	const cJSON *t3 = parsememo_get("/p?1", 2, PAGE2, strlen(PAGE2), &r3);
	CHECK(t3 && t3 != t1 && stats().parses == 2);
	CHECK(first_id(t1) && strcmp(first_id(t1), "a") == 0);
	CHECK(json_num(cJSON_GetArrayItem(
			       cJSON_GetObjectItemCaseSensitive(t3, "items"),
			       0),
		       "n", 0) == 3);
	parsememo_put(r1);
	parsememo_put(r3);
	/* The old version is gone: asking for it parses. */
	parsememo_get("/p?1", 1, PAGE1, strlen(PAGE1), &r1);
	CHECK(stats().parses == 3);
	parsememo_put(r1);
	parsememo_put(NULL);
	parsememo_cleanup();
	CHECK(stats().bytes == 0 && stats().parses == 0);
}

static void test_budget(void)
{
	struct parsememo_ref *r;
	/* Nothing kept: every walk parses, and the tree lives until put. */
	parsememo_init(0);
	for (int i = 0; i < 3; i++) {
		const cJSON *t =
			parsememo_get("/p?1", 1, PAGE1, strlen(PAGE1), &r);
		CHECK(t && first_id(t) && !strcmp(first_id(t), "a"));
		parsememo_put(r);
	}
	CHECK(stats().parses == 3 && stats().hits == 0 && stats().bytes == 0);
	parsememo_cleanup();

	/* Room for about two pages: the oldest goes first, a touched one
	 * stays. */
	parsememo_init(1 << 20);
	parsememo_get("/a", 1, PAGE1, strlen(PAGE1), &r);
	size_t one = stats().bytes;
	parsememo_put(r);
	parsememo_cleanup();
	parsememo_init(2 * one + one / 2);
	parsememo_get("/a", 1, PAGE1, strlen(PAGE1), &r);
	parsememo_put(r);
	parsememo_get("/b", 1, PAGE1, strlen(PAGE1), &r);
	parsememo_put(r);
	parsememo_get("/a", 1, PAGE1, strlen(PAGE1), &r); /* touch /a */
	parsememo_put(r);
	CHECK(stats().parses == 2 && stats().hits == 1);
	parsememo_get("/c", 1, PAGE1, strlen(PAGE1), &r); /* evicts /b */
	parsememo_put(r);
	CHECK(stats().bytes <= 2 * one + one / 2);
	parsememo_get("/a", 1, PAGE1, strlen(PAGE1), &r);
	parsememo_put(r);
	CHECK(stats().parses == 3 && stats().hits == 2);
	parsememo_get("/b", 1, PAGE1, strlen(PAGE1), &r);
	parsememo_put(r);
	CHECK(stats().parses == 4);
	parsememo_cleanup();
}

static void test_not_json(void)
{
	struct parsememo_ref *r = (void *)1;
	parsememo_init(1 << 20);
	errno = 0;
	CHECK(parsememo_get("/x", 1, "{\"items\":[", 10, &r) == NULL);
	CHECK(errno == EINVAL && r == NULL);
	CHECK(stats().bytes == 0);
	parsememo_cleanup();
}

/* Threads walking the same pages: one parse a page, the same tree for
 * all, and each thread's pretty render then line size agree with a
 * render of the line itself (the render memo must not carry a size from
 * one thread's page to another's). */
#define THREADS 4
#define ROUNDS 200

static void *walker(void *arg)
{
	long bad = 0;
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		struct parsememo_ref *r;
		const char *key = i % 2 ? "/even" : "/odd";
		const char *body = i % 2 ? PAGE1 : PAGE2;
		const cJSON *t = parsememo_get(key, 7, body, strlen(body), &r);
		const cJSON *it = cJSON_GetArrayItem(
			cJSON_GetObjectItemCaseSensitive(t, "items"), 0);
		struct buf pretty, line;
		buf_init(&pretty, 1 << 16);
		buf_init(&line, 1 << 16);
		if (!it || json_render_pretty(it, &pretty) ||
		    json_render_line(it, &line) ||
		    json_line_len(it) != line.len)
			bad++;
		buf_free(&pretty, true);
		buf_free(&line, true);
		parsememo_put(r);
	}
	return (void *)bad;
}

static void test_threads(void)
{
	pthread_t th[THREADS];
	parsememo_init(1 << 20);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&th[i], NULL, walker, NULL) == 0);
	for (int i = 0; i < THREADS; i++) {
		void *bad;
		pthread_join(th[i], &bad);
		CHECK(bad == NULL);
	}
	/* Two pages, each parsed once (or twice when two threads missed
	 * at the same moment). */
	struct parsememo_stats s = stats();
	CHECK(s.parses >= 2 && s.parses <= 2 * THREADS);
	CHECK(s.parses + s.hits == THREADS * ROUNDS);
	parsememo_cleanup();
}

int main(void)
{
	test_once_per_version();
	test_budget();
	test_not_json();
	test_threads();
	return check_report("test_parsememo");
}

/* prefetch.c - fetches the next page of a list while the walk parses this
 * one (see prefetch.h). A few worker threads and a short queue, protected
 * by pf.lock; the workers call only the cache. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/cache.h"
#include "apisecfs/prefetch.h"

/* A walk has one page in flight at a time, and a listing walks the five
 * severity lists at once: five workers never make a walk wait on another's
 * prefetch. The queue drops what does not fit. */
#define PREFETCH_WORKERS 5
#define PREFETCH_QUEUE 32
/* How long a prefetched page is kept for its walk whatever the cap: the
 * walk reads it after rendering one page (well under this). */
#define PREFETCH_PIN_MS 10000

/* pf.lock protects every field; a leaf, dropped before a worker fetches. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	char *queue[PREFETCH_QUEUE]; /* ring: n keys from head */
	size_t head, n;
	pthread_t workers[PREFETCH_WORKERS];
	size_t started;
	bool stopping;
} pf = { .lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER };

static void *work(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pf.lock);
	for (;;) {
		while (!pf.n && !pf.stopping)
			pthread_cond_wait(&pf.more, &pf.lock);
		if (pf.stopping)
			break;
		char *key = pf.queue[pf.head];
		pf.head = (pf.head + 1) % PREFETCH_QUEUE;
		pf.n--;
		pthread_mutex_unlock(&pf.lock);
		struct api_status st;
		memset(&st, 0, sizeof(st));
		if (key) /* NULL: its walk asked for it first */
			(void)cache_prefetch(key, PREFETCH_PIN_MS, &st);
		free(key);
		pthread_mutex_lock(&pf.lock);
	}
	pthread_mutex_unlock(&pf.lock);
	return NULL;
}

void prefetch_page(const char *key)
{
	pthread_mutex_lock(&pf.lock);
	if (!pf.stopping && pf.n < PREFETCH_QUEUE) {
		char *k = strdup(key);
		if (k) {
			pf.queue[(pf.head + pf.n) % PREFETCH_QUEUE] = k;
			pf.n++;
			pthread_cond_signal(&pf.more);
		}
		/* Start a worker while all are (or may be) busy. */
		if (pf.started < PREFETCH_WORKERS &&
		    pthread_create(&pf.workers[pf.started], NULL, work,
				   NULL) == 0)
			pf.started++;
	}
	pthread_mutex_unlock(&pf.lock);
}

void prefetch_cancel(const char *key)
{
	pthread_mutex_lock(&pf.lock);
	for (size_t i = 0; i < pf.n; i++) {
		char **q = &pf.queue[(pf.head + i) % PREFETCH_QUEUE];
		if (*q && !strcmp(*q, key)) {
			free(*q);
			*q = NULL;
		}
	}
	pthread_mutex_unlock(&pf.lock);
}

void prefetch_stop(void)
{
	pthread_mutex_lock(&pf.lock);
	pf.stopping = true;
	pthread_cond_broadcast(&pf.more);
	size_t started = pf.started;
	pthread_mutex_unlock(&pf.lock);
	for (size_t i = 0; i < started; i++)
		pthread_join(pf.workers[i], NULL);
	pthread_mutex_lock(&pf.lock);
	for (; pf.n; pf.n--, pf.head = (pf.head + 1) % PREFETCH_QUEUE)
		free(pf.queue[pf.head]); /* NULL (cancelled) is fine */
	pf.started = 0;
	pthread_mutex_unlock(&pf.lock);
}

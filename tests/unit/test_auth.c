/* test_auth.c - the credential's renewals on the fake clock, against a
 * canned token endpoint (fakeplat.h): an OAuth bearer is renewed once a
 * fifth of its life (at most a minute) before it expires, not before and
 * not at every call; a 401 renews once however many callers saw it; a
 * rotated client secret is read again at the renewal; a token file is
 * looked at for rotation at most once a second; a failed early refresh
 * is not tried again for 5 s. No network, no sleep. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apisecfs/auth.h"
#include "apisecfs/clock.h"
#include "check.h"
#include "fakeplat.h"

static int mints, mes, tries; /* tries: every POST, refused or not */
static long life = 600;
static const char *basic; /* the Authorization the endpoint accepts */

/* The token endpoint: a new bearer each time ("tok1", "tok2"...), and
 * /v1/me, which a renewal asks with the new bearer. */
static int endpoint(const struct http_req *rq, const char *path,
		    struct http_resp *rs)
{
	char b[256];
	if (strcmp(path, "/oauth2/token") == 0 &&
	    strcmp(rq->method, "POST") == 0) {
		tries++;
		if (!rq->authorization || strcmp(rq->authorization, basic)) {
			fake_answer(rs, 401, "{\"code\":\"invalid_client\"}");
			return 1;
		}
		snprintf(b, sizeof(b),
			 "{\"access_token\":\"tok%d\",\"token_type\":"
			 "\"Bearer\","
			 "\"expires_in\":%ld}",
			 ++mints, life);
		fake_answer(rs, 200, b);
		return 1;
	}
	if (strcmp(path, "/v1/me") == 0) {
		mes++;
		fake_answer(rs, 200, "{\"scopes\":[\"vulns:read\"]}");
		return 1;
	}
	return 0;
}

/* The bearer a request would carry now. */
static const char *bearer(unsigned *gen)
{
	static char out[256];
	unsigned g;
	if (auth_authorization(out, sizeof(out), gen ? gen : &g))
		return "";
	return out;
}

static void write_file(const char *path, const char *text)
{
	char tmp[256];
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	FILE *f = fopen(tmp, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	CHECK(chmod(tmp, 0600) == 0 && rename(tmp, path) == 0);
}

int main(void)
{
	char err[512], dir[] = "/tmp/test_auth.XXXXXX", secret[300],
		       token[300];
	unsigned gen, gen2;

	CHECK(fake_start() == 0);
	fake.hook = endpoint;
	CHECK(mkdtemp(dir) != NULL);
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	snprintf(token, sizeof(token), "%s/token", dir);
	write_file(secret, "s3cret\n");
	basic = "Basic Y2lkOnMzY3JldA=="; /* cid:s3cret */

	/* ---- OAuth: early refresh ------------------------------------- */
	struct auth_opts ao = { .base_url = FAKE_BASE,
				.client_id = "cid",
				.client_secret_file = secret };
	CHECK(auth_init(&ao, err, sizeof(err)) == 0);
	time_t t0 = clock_wall();
	CHECK(mints == 1 && auth_expires_at() == t0 + 600);
	CHECK(strcmp(bearer(&gen), "Bearer tok1") == 0);

	/* A 600 s bearer is renewed 60 s before its end: not at any call
	 * before that, however many. */
	for (int i = 0; i < 539; i++) {
		fake_advance(1000);
		CHECK(strcmp(bearer(NULL), "Bearer tok1") == 0);
	}
	fake_advance(999); /* t0 + 539.999 s */
	CHECK(strcmp(bearer(&gen2), "Bearer tok1") == 0 && gen2 == gen);
	CHECK(mints == 1 && mes == 0);
	fake_advance(1); /* t0 + 540 s */
	CHECK(strcmp(bearer(&gen2), "Bearer tok2") == 0 && gen2 != gen);
	CHECK(mints == 2 && mes == 1); /* and the identity asked again */
	CHECK(auth_expires_at() == t0 + 540 + 600);
	for (int i = 0; i < 100; i++)
		CHECK(strcmp(bearer(NULL), "Bearer tok2") == 0);
	CHECK(mints == 2);

	/* A short life: a fifth of it (20 s: renewed 4 s before). */
	life = 20;
	fake_advance(540 * 1000); /* tok2's renewal point */
	CHECK(strcmp(bearer(NULL), "Bearer tok3") == 0 && mints == 3);
	fake_advance(15999);
	CHECK(strcmp(bearer(NULL), "Bearer tok3") == 0 && mints == 3);
	fake_advance(1);
	CHECK(strcmp(bearer(NULL), "Bearer tok4") == 0 && mints == 4);

	/* Past its end the bearer is useless: the call waits for the
	 * renewal rather than send it. */
	life = 600;
	fake_advance(60 * 1000);
	CHECK(strcmp(bearer(&gen), "Bearer tok5") == 0 && mints == 5);

	/* A 401 renews once: a second caller that saw the same bearer
	 * refused finds the new one held, and mints nothing. */
	CHECK(auth_renew(gen) == 0 && mints == 6);
	CHECK(auth_renew(gen) == 0 && mints == 6);
	CHECK(strcmp(bearer(&gen2), "Bearer tok6") == 0);

	/* The client secret rotated on disk: read again at the renewal. */
	write_file(secret, "n3w\n");
	basic = "Basic Y2lkOm4zdw=="; /* cid:n3w */
	CHECK(auth_renew(gen2) == 0 && mints == 7);
	CHECK(strcmp(bearer(NULL), "Bearer tok7") == 0);
	/* Refused: the bearer held stays, and the caller is told. */
	basic = "Basic nothing";
	CHECK(bearer(&gen) && auth_renew(gen) == -1 && mints == 7);
	CHECK(strcmp(bearer(NULL), "Bearer tok7") == 0);

	/* The token endpoint failing in the refresh window: one try, then
	 * none for 5 s while the bearer held is valid, whatever the calls. */
	fake_advance(540 * 1000); /* tok7's renewal point */
	tries = 0;
	CHECK(strcmp(bearer(NULL), "Bearer tok7") == 0 && tries == 1);
	for (int i = 0; i < 100; i++)
		CHECK(strcmp(bearer(NULL), "Bearer tok7") == 0);
	fake_advance(4999);
	CHECK(strcmp(bearer(NULL), "Bearer tok7") == 0 && tries == 1);
	fake_advance(1);
	CHECK(strcmp(bearer(NULL), "Bearer tok7") == 0 && tries == 2);
	basic = "Basic Y2lkOm4zdw==";
	fake_advance(4999);
	CHECK(strcmp(bearer(NULL), "Bearer tok7") == 0 && tries == 2);
	fake_advance(1);
	CHECK(strcmp(bearer(NULL), "Bearer tok8") == 0 && tries == 3);
	/* An expired bearer does not wait out the pause: a failure 1 s
	 * before the end, then the next call after it renews. */
	basic = "Basic nothing";
	fake_advance(599 * 1000);
	CHECK(strcmp(bearer(NULL), "Bearer tok8") == 0 && tries == 4);
	basic = "Basic Y2lkOm4zdw==";
	fake_advance(1000);
	CHECK(strcmp(bearer(NULL), "Bearer tok9") == 0 && tries == 5);
	auth_cleanup();

	/* ---- a token file: rotation seen within a second -------------- */
	write_file(token, "file-one\n");
	struct auth_opts to = { .base_url = FAKE_BASE, .token_file = token };
	CHECK(auth_init(&to, err, sizeof(err)) == 0);
	CHECK(strcmp(bearer(NULL), "Bearer file-one") == 0);
	CHECK(auth_expires_at() == 0); /* unknown: never renewed early */
	fake_advance(1000);
	CHECK(strcmp(bearer(NULL), "Bearer file-one") == 0); /* looked */
	write_file(token, "file-two\n");
	fake_advance(999); /* not looked at again yet */
	CHECK(strcmp(bearer(NULL), "Bearer file-one") == 0);
	fake_advance(1);
	CHECK(strcmp(bearer(NULL), "Bearer file-two") == 0);
	auth_cleanup();

	unlink(secret);
	unlink(token);
	rmdir(dir);
	fake_stop();
	return check_report("test_auth");
}

/* test_errmap.c - the one translation from API outcomes to errnos: every
 * error code the platform contract lists (platform-api.md, section 3)
 * with its HTTP status gives the errno the man page promises, a 403 by
 * its code, and every outcome has its own text for the log. */
#include <errno.h>
#include <string.h>

#include "apisecfs/errmap.h"
#include "check.h"

static int errno_of(long http, const char *code)
{
	struct api_status st = { .http = http };
	strncpy(st.code, code, sizeof(st.code) - 1);
	return errmap_to_errno(errmap_from_http(http), &st);
}

static void test_contract_codes(void)
{
	static const struct {
		long http;
		const char *code;
		int want;
	} rows[] = {
		{ 400, "bad_request", EINVAL },
		{ 401, "unauthenticated", EACCES },
		{ 401, "token_expired", EACCES },
		{ 401, "invalid_token", EACCES },
		{ 403, "missing_scope", EACCES },
		{ 403, "address_not_allowed", EPERM },
		{ 403, "sso_required", EPERM },
		{ 404, "not_found", ENOENT },
		{ 409, "conflict", EEXIST },
		{ 429, "rate_limited", EAGAIN },
		{ 500, "internal", EIO },
		{ 503, "unavailable", EIO },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int got = errno_of(rows[i].http, rows[i].code);
		if (got != rows[i].want)
			fprintf(stderr, "%ld %s: errno %d, want %d\n",
				rows[i].http, rows[i].code, got, rows[i].want);
		CHECK(got == rows[i].want);
	}
}

static void test_code_needs_its_status(void)
{
	/* The code refines a 403; it does not make one. */
	CHECK(errno_of(401, "address_not_allowed") == EACCES);
	CHECK(errno_of(404, "sso_required") == ENOENT);
	CHECK(errno_of(500, "missing_scope") == EIO);
	/* A 403 with no code, or one this build does not know: EACCES. */
	CHECK(errno_of(403, "") == EACCES);
	CHECK(errno_of(403, "tenant_suspended") == EACCES);
	/* Codes are compared whole. */
	CHECK(errno_of(403, "address_not_allowed_x") == EACCES);
	CHECK(errno_of(403, "sso") == EACCES);
	/* No status at all. */
	CHECK(errmap_to_errno(API_E_FORBIDDEN, NULL) == EACCES);
	CHECK(errmap_to_errno(API_E_NOT_FOUND, NULL) == ENOENT);
}

static void test_statuses(void)
{
	CHECK(errmap_from_http(422) == API_E_BAD_REQUEST);
	CHECK(errmap_from_http(410) == API_E_NOT_FOUND);
	CHECK(errmap_from_http(502) == API_E_SERVER);
	CHECK(errmap_from_http(599) == API_E_SERVER);
	CHECK(errmap_from_http(302) == API_E_HTTP_OTHER);
	CHECK(errmap_from_http(418) == API_E_HTTP_OTHER);
	CHECK(errno_of(418, "") == EIO);
}

static void test_local_outcomes(void)
{
	CHECK(errmap_to_errno(API_OK, NULL) == 0);
	CHECK(errmap_to_errno(API_E_NOMEM, NULL) == ENOMEM);
	CHECK(errmap_to_errno(API_E_TOO_BIG, NULL) == EFBIG);
	static const enum api_err io[] = { API_E_TRANSPORT, API_E_TLS,
					   API_E_TIMEOUT,   API_E_BAD_RESPONSE,
					   API_E_SERVER,    API_E_HTTP_OTHER };
	for (size_t i = 0; i < sizeof(io) / sizeof(io[0]); i++)
		CHECK(errmap_to_errno(io[i], NULL) == EIO);
}

static void test_texts(void)
{
	/* Each outcome says something of its own in the log. */
	for (int a = API_OK; a <= API_E_TOO_BIG; a++) {
		const char *s = errmap_str((enum api_err)a);
		CHECK(s && *s && strcmp(s, "unknown error") != 0);
		for (int b = API_OK; b < a; b++)
			CHECK(strcmp(s, errmap_str((enum api_err)b)) != 0);
	}
}

int main(void)
{
	test_contract_codes();
	test_code_needs_its_status();
	test_statuses();
	test_local_outcomes();
	test_texts();
	return check_report("test_errmap");
}

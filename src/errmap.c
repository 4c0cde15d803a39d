/* errmap.c - api_err <-> HTTP status <-> errno <-> text. A leaf. */
#include <errno.h>
#include <string.h>

#include "apisecfs/errmap.h"

enum api_err errmap_from_http(long status)
{
	switch (status) {
	case 400:
	case 422: return API_E_BAD_REQUEST;
	case 401: return API_E_UNAUTH;
	case 403: return API_E_FORBIDDEN;
	case 404:
	case 410: return API_E_NOT_FOUND;
	case 409: return API_E_CONFLICT;
	case 429: return API_E_RATE_LIMITED;
	default: break;
	}
	if (status >= 500)
		return API_E_SERVER;
	return API_E_HTTP_OTHER;
}

/* A 403 says why in its code. Without a scope the credential may do
 * other things, and another credential this one: EACCES, as for a mode
 * bit. A refusal of the credential itself, wherever it is used from here
 * (address_not_allowed, sso_required), is a policy no scope changes:
 * EPERM, so that ls and cat tell the two apart. */
static int forbidden_errno(const struct api_status *st)
{
	if (st && (strcmp(st->code, "address_not_allowed") == 0 ||
		   strcmp(st->code, "sso_required") == 0))
		return EPERM;
	return EACCES; /* missing_scope, or a code this build does not know */
}

int errmap_to_errno(enum api_err err, const struct api_status *st)
{
	switch (err) {
	case API_OK: return 0;
	case API_E_UNAUTH: return EACCES;
	case API_E_FORBIDDEN: return forbidden_errno(st);
	case API_E_NOT_FOUND: return ENOENT;
	case API_E_CONFLICT: return EEXIST;
	case API_E_BAD_REQUEST: return EINVAL;
	case API_E_RATE_LIMITED: return EAGAIN;
	case API_E_NOMEM: return ENOMEM;
	case API_E_TOO_BIG: return EFBIG;
	case API_E_TRANSPORT:
	case API_E_TLS:
	case API_E_TIMEOUT:
	case API_E_BAD_RESPONSE:
	case API_E_SERVER:
	case API_E_HTTP_OTHER: break;
	}
	return EIO;
}

const char *errmap_str(enum api_err err)
{
	switch (err) {
	case API_OK: return "ok";
	case API_E_TRANSPORT: return "connection failed";
	case API_E_TLS: return "TLS verification failed";
	case API_E_TIMEOUT: return "timed out";
	case API_E_BAD_RESPONSE: return "invalid response body";
	case API_E_UNAUTH: return "credential refused (expired or revoked)";
	case API_E_FORBIDDEN: return "forbidden";
	case API_E_NOT_FOUND: return "not found";
	case API_E_CONFLICT: return "conflict";
	case API_E_BAD_REQUEST: return "bad request";
	case API_E_RATE_LIMITED: return "rate limited";
	case API_E_SERVER: return "server error";
	case API_E_HTTP_OTHER: return "unexpected HTTP status";
	case API_E_NOMEM: return "out of memory";
	case API_E_TOO_BIG: return "response too large";
	}
	return "unknown error";
}

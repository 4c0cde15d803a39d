/* errmap.h - the one translation between API outcomes and errnos.
 *
 * http, cache, auth and api return an enum api_err; the details a log line
 * needs (HTTP status, the API's error code, requestId) travel beside it in a
 * struct api_status. Only errmap.c turns these into errnos or text, so the
 * mapping in the README and the man page has exactly one source.
 */
#ifndef APISECFS_ERRMAP_H
#define APISECFS_ERRMAP_H

enum api_err {
	API_OK = 0,
	API_E_TRANSPORT,    /* connect/reset/truncated body */
	API_E_TLS,	    /* certificate or handshake failure */
	API_E_TIMEOUT,	    /* deadline passed */
	API_E_BAD_RESPONSE, /* body is not the JSON we need */
	API_E_UNAUTH,	    /* 401 */
	API_E_FORBIDDEN,    /* 403 (missing_scope, address_not_allowed, sso) */
	API_E_NOT_FOUND,    /* 404 */
	API_E_CONFLICT,	    /* 409 */
	API_E_BAD_REQUEST,  /* 400 */
	API_E_RATE_LIMITED, /* 429 after retries */
	API_E_SERVER,	    /* 5xx */
	API_E_HTTP_OTHER,   /* any other non-2xx */
	API_E_NOMEM,
	API_E_TOO_BIG, /* response over the size cap */
};

struct api_status {
	long http;	   /* HTTP status, 0 if none was received */
	char code[48];	   /* API error code ("missing_scope"), "" if none */
	char message[160]; /* API error message, trimmed */
	char request_id[64];
	char detail[128]; /* transport-level reason (curl's error text) */
};

/* Classify an HTTP status (>= 300) into an api_err. */
enum api_err errmap_from_http(long status);
/* The errno a FUSE operation returns for this outcome (positive): by
 * err, and for a 403 by st's code too (EACCES for missing_scope, EPERM
 * for address_not_allowed and sso_required); st may be NULL. */
int errmap_to_errno(enum api_err err, const struct api_status *st);
/* Short fixed description for logs ("not found", "timed out"). */
const char *errmap_str(enum api_err err);

#endif

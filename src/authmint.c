/* authmint.c - OAuth2 client credentials and the login call.
 *
 * Builds the minting requests, reads the bearer and its lifetime, and
 * turns refusals into one-line reasons. Calls clock, esc, http and json (and
 * authdefs.h for the cap and failure classes it shares with auth.c);
 * request bodies and the Basic header carry secrets and are wiped after
 * use (http.c never logs them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apisecfs/authdefs.h"
#include "apisecfs/authmint.h"
#include "apisecfs/clock.h"
#include "apisecfs/esc.h"
#include "apisecfs/http.h"
#include "apisecfs/json.h"

static void b64(const unsigned char *in, size_t n, char *out, size_t outsz)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				  "qrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < outsz; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
}

/* One reason for a failed minting call; returns the enum auth_fail. */
static int why(enum api_err e, const struct http_resp *rs, const char *what,
	       const char *who, char *err, size_t errsz)
{
	const struct api_status *st = &rs->st;
	if (e == API_E_FORBIDDEN && strcmp(st->code, "sso_required") == 0) {
		snprintf(err, errsz,
			 "account %s must sign in through SSO; use an API "
			 "token or OAuth client credentials instead",
			 who);
		return AUTH_FAIL_REFUSED;
	}
	if (e == API_E_UNAUTH || e == API_E_FORBIDDEN ||
	    e == API_E_BAD_REQUEST) {
		snprintf(err, errsz,
			 "the platform refused the %s for %s (%s)%s%s", what,
			 who, st->code[0] ? st->code : "refused",
			 st->message[0] ? ": " : "", st->message);
		return AUTH_FAIL_REFUSED;
	}
	snprintf(err, errsz, "%s failed: %s%s%s", what, errmap_str(e),
		 st->detail[0] ? ": " : "", st->detail);
	return AUTH_FAIL_PLATFORM;
}

/* Take the string field key of the response as the bearer. */
static int take(const struct http_resp *rs, const char *key, char **bearer,
		cJSON **doc, char *err, size_t errsz)
{
	*doc = json_parse(rs->body.data ? rs->body.data : "", rs->body.len);
	const char *v = json_str(*doc, key);
	if (!v || !*v || strlen(v) >= AUTH_SECRET_MAX) {
		snprintf(err, errsz, "the login answer has no usable \"%s\"",
			 key);
		return AUTH_FAIL_PLATFORM;
	}
	/* It becomes a header value: a CR LF in it would add a header. */
	if (esc_has_ctl(v, strlen(v))) {
		snprintf(
			err, errsz,
			"the login answer's \"%s\" holds a control character; "
			"refused",
			key);
		explicit_bzero((char *)v, strlen(v));
		return AUTH_FAIL_REFUSED;
	}
	*bearer = strdup(v);
	explicit_bzero((char *)v, strlen(v));
	return *bearer ? 0 : AUTH_FAIL_PLATFORM;
}

int authmint_oauth(const char *token_url, const char *client_id,
		   const char *client_secret, char **bearer, time_t *expires,
		   char *err, size_t errsz)
{
	char pair[AUTH_SECRET_MAX], basic[AUTH_SECRET_MAX * 2];
	static const char body[] = "grant_type=client_credentials";
	int n = snprintf(pair, sizeof(pair), "%s:%s", client_id,
			 client_secret);
	if (n < 0 || (size_t)n >= sizeof(pair)) {
		snprintf(err, errsz, "client secret too long");
		return AUTH_FAIL_CONFIG;
	}
	memcpy(basic, "Basic ", 6);
	b64((const unsigned char *)pair, (size_t)n, basic + 6,
	    sizeof(basic) - 6);
	explicit_bzero(pair, sizeof(pair));

	struct http_req rq = {
		.method = "POST",
		.url = token_url,
		.authorization = basic,
		.content_type = "application/x-www-form-urlencoded",
		.body = body,
		.body_len = sizeof(body) - 1,
		.retryable = true, /* minting twice does no harm */
		.quiet = true,
	};
	struct http_resp rs;
	enum api_err e = http_do(&rq, &rs);
	explicit_bzero(basic, sizeof(basic));
	int rc;
	cJSON *doc = NULL;
	if (e)
		rc = why(e, &rs, "client credentials", client_id, err, errsz);
	else
		rc = take(&rs, "access_token", bearer, &doc, err, errsz);
	if (!rc) {
		double life = json_num(doc, "expires_in", 0);
		*expires = life > 0 ? clock_wall() + (time_t)life : 0;
	}
	cJSON_Delete(doc);
	buf_free(&rs.body, true);
	return rc;
}

int authmint_login(const char *base_url, const char *username,
		   const char *password, char **bearer, time_t *expires,
		   char *err, size_t errsz)
{
	char url[1024];
	snprintf(url, sizeof(url), "%s/auth/login", base_url);
	cJSON *in = cJSON_CreateObject();
	cJSON_AddStringToObject(in, "username", username);
	cJSON_AddStringToObject(in, "password", password);
	char *body = cJSON_PrintUnformatted(in);
	cJSON *pw = cJSON_GetObjectItemCaseSensitive(in, "password");
	if (cJSON_IsString(pw))
		explicit_bzero(pw->valuestring, strlen(pw->valuestring));
	cJSON_Delete(in);
	if (!body) {
		snprintf(err, errsz, "out of memory");
		return AUTH_FAIL_CONFIG;
	}
	struct http_req rq = {
		.method = "POST",
		.url = url,
		.content_type = "application/json",
		.body = body,
		.body_len = strlen(body),
		.retryable = true,
		.quiet = true,
	};
	struct http_resp rs;
	enum api_err e = http_do(&rq, &rs);
	explicit_bzero(body, strlen(body));
	free(body);
	int rc;
	cJSON *doc = NULL;
	if (e)
		rc = why(e, &rs, "login", username, err, errsz);
	else
		rc = take(&rs, "token", bearer, &doc, err, errsz);
	if (!rc)
		*expires = authmint_jwt_exp(*bearer);
	cJSON_Delete(doc);
	buf_free(&rs.body, true);
	return rc;
}

/* base64url decode, tolerant of missing padding; returns bytes or -1. */
static long b64url_decode(const char *in, size_t n, char *out, size_t outsz)
{
	unsigned v = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		int d = c >= 'A' && c <= 'Z'   ? c - 'A'
			: c >= 'a' && c <= 'z' ? c - 'a' + 26
			: c >= '0' && c <= '9' ? c - '0' + 52
			: c == '-' || c == '+' ? 62
			: c == '_' || c == '/' ? 63
					       : -1;
		if (c == '=')
			break;
		if (d < 0)
			return -1;
		v = (v << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= outsz)
				return -1;
			out[o++] = (char)((v >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return (long)o;
}

time_t authmint_jwt_exp(const char *jwt)
{
	const char *p = strchr(jwt, '.');
	const char *q = p ? strchr(p + 1, '.') : NULL;
	char payload[4096];
	if (!q)
		return 0;
	long n = b64url_decode(p + 1, (size_t)(q - p - 1), payload,
			       sizeof(payload));
	if (n <= 0)
		return 0;
	cJSON *claims = json_parse(payload, (size_t)n);
	double exp = json_num(claims, "exp", 0);
	cJSON_Delete(claims);
	return exp > 0 ? (time_t)exp : 0;
}

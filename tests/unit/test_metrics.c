/* test_metrics.c - metrics.c: route templates, and the exposition text
 * its counters render to (cumulative buckets, status classes, errno
 * names, families without samples). */
#include <errno.h>
#include <string.h>

#include "apisecfs/metrics.h"
#include "check.h"

static void test_routes(void)
{
	CHECK(!strcmp(metrics_route("http://h:1/v1/me"), "/v1/me"));
	CHECK(!strcmp(metrics_route("https://h/v1/vulnerabilities/v_9?x=1"),
		      "/v1/vulnerabilities/{vulnerabilityId}"));
	CHECK(!strcmp(metrics_route("/v1/vulnerabilities?limit=500&"
				    "nextToken=abc"),
		      "/v1/vulnerabilities"));
	CHECK(!strcmp(metrics_route("http://h/v1/applications/a1/instances/"
				    "i1/spec"),
		      "/v1/applications/{applicationId}/instances/"
		      "{instanceId}/spec"));
	CHECK(!strcmp(metrics_route("http://h/v1/applications/a1"),
		      "/v1/applications/{applicationId}"));
	CHECK(!strcmp(
		metrics_route("http://h/v1/scans/s1/report?format=sarif"),
		"/v1/scans/{scanId}/report"));
	CHECK(!strcmp(metrics_route("http://h/v1/scans/s1/cancel"),
		      "/v1/scans/{scanId}/cancel"));
	CHECK(!strcmp(metrics_route("http://h/oauth2/token"),
		      "/oauth2/token"));
	/* A base URL with a path prefix still finds the route. */
	CHECK(!strcmp(metrics_route("https://gw/apisec/v1/tokens/t1"),
		      "/v1/tokens/{tokenId}"));
	/* Anything else is "other", never the path itself. */
	CHECK(!strcmp(metrics_route("https://idp/realms/x/token"), "other"));
	CHECK(!strcmp(metrics_route("http://h"), "other"));
	CHECK(!strcmp(metrics_route("http://h/v1/scans/s1/extra"), "other"));
	CHECK(!strcmp(metrics_route("http://h/v1/scans//"), "other"));
	CHECK(!strcmp(metrics_route(""), "other"));
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void test_render(void)
{
	metrics_http_request("GET", "http://h/v1/vulnerabilities/abc", 200,
			     0.003);
	metrics_http_request("GET", "http://h/v1/vulnerabilities/def", 200,
			     0.2);
	metrics_http_request("GET", "http://h/v1/me", 418, 0.02);
	metrics_http_request("POST", "http://h/v1/scans/s/cancel", 0, 30);
	metrics_http_request("BREW", "http://h/x", 503, 1);
	metrics_fuse_op(METRICS_OP_READ);
	metrics_fuse_op(METRICS_OP_READ);
	metrics_fuse_error(ENOENT);
	metrics_fuse_error(0);
	metrics_fuse_error(100000);
	metrics_set_ratelimit_remaining(42);
	metrics_set_ratelimit_remaining(-1); /* absent header: kept */

	struct metrics_gauges g = { .cache_hits = 7, .cache_max_bytes = 1024 };
	struct buf out;
	buf_init(&out, 1 << 20);
	CHECK(metrics_render(&g, &out) == 0);
	const char *t = out.data;
	CHECK(has_line(t, "# TYPE apisecfs_http_requests_total counter"));
	CHECK(has_line(t, "apisecfs_http_requests_total{method=\"GET\","
			  "route=\"/v1/vulnerabilities/{vulnerabilityId}\","
			  "code=\"200\"} 2"));
	CHECK(has_line(t, "apisecfs_http_requests_total{method=\"GET\","
			  "route=\"/v1/me\",code=\"4xx\"} 1"));
	CHECK(has_line(t, "apisecfs_http_requests_total{method=\"POST\","
			  "route=\"/v1/scans/{scanId}/cancel\","
			  "code=\"error\"} 1"));
	CHECK(has_line(t, "apisecfs_http_requests_total{method=\"other\","
			  "route=\"other\",code=\"503\"} 1"));
	CHECK(!strstr(t, "abc") && !strstr(t, "BREW"));
	CHECK(has_line(t, "# TYPE apisecfs_http_request_duration_seconds "
			  "histogram"));
	CHECK(has_line(t, "apisecfs_http_request_duration_seconds_bucket"
			  "{le=\"0.005\"} 1"));
	CHECK(has_line(t, "apisecfs_http_request_duration_seconds_bucket"
			  "{le=\"0.025\"} 2"));
	CHECK(has_line(t, "apisecfs_http_request_duration_seconds_bucket"
			  "{le=\"1\"} 4"));
	CHECK(has_line(t, "apisecfs_http_request_duration_seconds_bucket"
			  "{le=\"10\"} 4"));
	CHECK(has_line(t, "apisecfs_http_request_duration_seconds_bucket"
			  "{le=\"+Inf\"} 5"));
	CHECK(has_line(t, "apisecfs_http_request_duration_seconds_sum "
			  "31.223000"));
	CHECK(has_line(t, "apisecfs_http_request_duration_seconds_count 5"));
	CHECK(has_line(t, "apisecfs_fuse_requests_total{op=\"read\"} 2"));
	CHECK(has_line(t, "apisecfs_fuse_requests_total{op=\"statfs\"} 0"));
	CHECK(has_line(t, "apisecfs_errors_total{errno=\"ENOENT\"} 1"));
	CHECK(has_line(t, "apisecfs_errors_total{errno=\"other\"} 1"));
	CHECK(has_line(t, "apisecfs_cache_hits_total 7"));
	CHECK(has_line(t, "apisecfs_cache_max_bytes 1024"));
	CHECK(has_line(t, "apisecfs_ratelimit_remaining 42"));
	/* Unknown expiry: the family is declared, with no sample. */
	CHECK(has_line(t, "# TYPE apisecfs_credential_expiry_timestamp_seconds"
			  " gauge"));
	CHECK(!strstr(t, "\napisecfs_credential_expiry_timestamp_seconds "));
	buf_free(&out, false);

	/* A cap too small fails cleanly. */
	buf_init(&out, 100);
	CHECK(metrics_render(&g, &out) == -1);
	buf_free(&out, false);
}

int main(void)
{
	test_routes();
	test_render();
	return check_report("test_metrics");
}

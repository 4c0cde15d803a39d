/* json.h - typed, NULL-safe cJSON getters and renderers.
 *
 * API objects are untrusted: any field may be missing or of the wrong type.
 * These getters return a default instead of crashing, so renderers and the
 * tree never dereference a field they did not check.
 */
#ifndef APISECFS_JSON_H
#define APISECFS_JSON_H

#include <stdbool.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "apisecfs/buf.h"

/* Borrowed string value of obj[key], or NULL if absent or not a string.
 * Valid as long as obj is. */
const char *json_str(const cJSON *obj, const char *key);
/* Number value of obj[key], or dflt. */
double json_num(const cJSON *obj, const char *key, double dflt);
/* RFC 3339 UTC ("2026-11-22T10:00:00Z", fractional seconds and offsets
 * accepted) to time_t; 0 if absent or malformed. */
time_t json_time(const cJSON *obj, const char *key);
time_t json_parse_time(const char *s);
/* Parse len bytes (need not be NUL-terminated). NULL if invalid, if nested
 * deeper than cJSON's limit, or if trailing garbage follows. Caller frees. */
cJSON *json_parse(const char *data, size_t len);
/* A list page parsed into an arena: its nodes and strings come from a few
 * large blocks freed at once, not from one malloc each (a page of 500
 * findings is some 20,000 of them; malloc and free were a quarter of a
 * listing's CPU). NULL as json_parse; *arena is then NULL too. The tree
 * must never reach cJSON_Delete: json_arena_free frees it. */
struct json_arena;
cJSON *json_parse_page(const char *data, size_t len,
		       struct json_arena **arena);
void json_arena_free(struct json_arena *a); /* NULL is fine */
/* Bytes the arena's nodes and strings take. */
size_t json_arena_bytes(const struct json_arena *a);
/* A page parsed by another thread, now read by this one: its renders may
 * use this thread's render memo (as after json_parse_page) until
 * json_arena_unadopt, which a thread must call before it lets go of the
 * page (another thread may free it then). */
void json_arena_adopt(struct json_arena *a);
void json_arena_unadopt(const struct json_arena *a);
/* Nesting deeper than this is refused when rendering (hostile data). */
#define JSON_MAX_DEPTH 256

/* Pretty render as jq prints it (two-space indent) with a trailing
 * newline, appended to out: 0, or -1 with out unchanged. */
int json_render_pretty(const cJSON *obj, struct buf *out)
	__attribute__((warn_unused_result));
/* One-line render with a trailing newline (JSON Lines). */
int json_render_line(const cJSON *obj, struct buf *out)
	__attribute__((warn_unused_result));
/* The bytes json_render_line would append, counted without rendering
 * (all.jsonl's size); SIZE_MAX when the render would fail (too deep). */
size_t json_line_len(const cJSON *obj);

#endif

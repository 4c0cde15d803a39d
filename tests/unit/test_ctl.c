/* test_ctl.c - control-file writes through tree.c and ctl.c as the
 * control mount's fs.c drives them (open, write, flush at each close,
 * release), with the real kinds (vulns/triage, tokens/new) over a canned
 * platform (faketree.h), which counts every request:
 * - the whole input: a line without its newline acts at the close that
 *   leaves the opener without a descriptor of the file, not at the close
 *   of a dup while the opener still holds one (the test holds real
 *   descriptors of the path the handle names, and ctl.c asks /proc, as
 *   in the daemon), else at the release;
 * - malformed input (a bad line, a NUL, a seek) is EINVAL and sends
 *   nothing, then or at the close; nothing half-done after a refusal;
 * - O_APPEND: each open's write at the size the kernel believes acts;
 * - the platform's refusal reaches the writer as its errno (404, 403 by
 *   code, 409, 5xx), once, and the close sends nothing more;
 * - an action invalidates the kernel's attributes before it returns;
 *   tokens/new's reply reads back from its handle; a scope not held
 *   refuses the open before any request.
 * No kernel, no network, no sleep. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apisecfs/ctl.h"
#include "check.h"
#include "faketree.h"

/* What the platform got other than GETs, and how it answers them. */
static struct {
	int sent;
	char method[8], path[128], body[256], idem[64];
	long status;	      /* 0: 200 */
	const char *body_out; /* the answer's body */
} plat;

static int hook(const struct http_req *rq, const char *path,
		struct http_resp *rs)
{
	if (strcmp(rq->method, "GET") == 0)
		return 0;
	pthread_mutex_lock(&fake.lock);
	plat.sent++;
	snprintf(plat.method, sizeof(plat.method), "%s", rq->method);
	snprintf(plat.path, sizeof(plat.path), "%s", path);
	snprintf(plat.body, sizeof(plat.body), "%.*s", (int)rq->body_len,
		 rq->body ? rq->body : "");
	snprintf(plat.idem, sizeof(plat.idem), "%s",
		 rq->idempotency_key ? rq->idempotency_key : "");
	pthread_mutex_unlock(&fake.lock);
	fake_answer(rs, plat.status ? plat.status : 200,
		    plat.body_out ? plat.body_out : "{}");
	return 1;
}

static char root[PATH_MAX]; /* the control mount's path (a temp dir) */
static fuse_ino_t vulns, triage, tokens, token_new;

/* A descriptor of where the opener sees name (root/name): what /proc
 * shows for a descriptor of the control mount's file. */
static int hold(const char *name)
{
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/%s", root, name);
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	return fd;
}

static struct tree_file *open_ctl(fuse_ino_t ino, int flags)
{
	struct tree_file *f = NULL;
	bool keep, direct;
	CHECK(tree_open(ino, flags, getpid(), &f, &keep, &direct) == 0 && f &&
	      f->ctl && direct);
	return f;
}

static int put(struct tree_file *f, const char *s, off_t off)
{
	return tree_write(f, s, strlen(s), off);
}

/* The kernel's RELEASE: acts if nothing did, then frees. */
static int release(struct tree_file *f)
{
	int rc = tree_flush(f, true);
	tree_file_free(f);
	return rc;
}

/* echo "line" > vulns/triage, the platform answering status/body: the
 * errno the writer sees, with exactly one PATCH and nothing at close. */
static int triage_answered(long status, const char *body)
{
	plat.status = status;
	plat.body_out = body;
	plat.sent = 0;
	struct tree_file *f = open_ctl(triage, O_WRONLY);
	int rc = f ? put(f, "v9 RESOLVED\n", 0) : -EBADF;
	CHECK(f && tree_flush(f, false) == 0 && release(f) == 0);
	CHECK(plat.sent == 1);
	plat.status = 0;
	plat.body_out = NULL;
	return rc;
}

static void whole_input(void)
{
	/* printf 'v1 DISMISSED' >&3 with 3 dup'd: the dup's close ends
	 * nothing, the opener's last close acts. */
	int fd = hold("vulns/triage"), dup_fd = dup(fd);
	struct tree_file *f = open_ctl(triage, O_WRONLY);
	plat.sent = 0;
	ft_inval_zero();
	CHECK(put(f, "v1 DISMISSED", 0) == 12 && plat.sent == 0);
	close(dup_fd);
	CHECK(tree_flush(f, false) == 0 && plat.sent == 0);
	CHECK(ft_inval_all() == 0);
	close(fd);
	CHECK(tree_flush(f, false) == 0 && plat.sent == 1);
	CHECK(strcmp(plat.method, "PATCH") == 0 &&
	      strcmp(plat.path, "/v1/vulnerabilities/v1") == 0 &&
	      strcmp(plat.body, "{\"status\":\"DISMISSED\"}") == 0);
	/* Acted: the kernel's attributes of what it knows were dropped
	 * before the close returned (the writer's next ls sees the change),
	 * its pages kept. */
	CHECK(ft_inval_delivered() >= 1);
	CHECK(ft_inval_inode(triage, true) == 1 &&
	      ft_inval_inode(triage, false) == 0);
	char got[64];
	CHECK(tree_read(f, got, sizeof(got), 0) == 13 &&
	      memcmp(got, "v1 DISMISSED\n", 13) == 0);
	CHECK(release(f) == 0 && plat.sent == 1); /* once */

	/* The opener still holds it when the kernel releases (the last
	 * descriptor anywhere went): the release acts. */
	fd = hold("vulns/triage");
	f = open_ctl(triage, O_WRONLY);
	plat.sent = 0;
	CHECK(put(f, "v2 RISK_ACCEPTED: ok", 0) == 20);
	CHECK(tree_flush(f, false) == 0 && plat.sent == 0);
	CHECK(release(f) == 0 && plat.sent == 1);
	CHECK(strcmp(plat.path, "/v1/vulnerabilities/v2") == 0 &&
	      strstr(plat.body, "\"comment\":\"ok\""));
	close(fd);

	/* A line with its newline acts at the write: the writer sees
	 * the outcome, the close has nothing left to do. */
	f = open_ctl(triage, O_WRONLY);
	plat.sent = 0;
	ft_inval_zero();
	CHECK(put(f, "v3 ", 0) == 3 && ft_inval_all() == 0);
	CHECK(put(f, "RESOLVED\n", 3) == 9);
	CHECK(plat.sent == 1 && ft_inval_inode(triage, true) == 1);
	/* One action per open: more input (even what would make the same
	 * complete line again) is refused, nothing sent. */
	CHECK(put(f, "\n", 12) == -EINVAL);
	CHECK(tree_flush(f, false) == 0 && release(f) == 0 && plat.sent == 1);

	/* Nothing written: nothing sent at close. */
	f = open_ctl(triage, O_WRONLY);
	plat.sent = 0;
	CHECK(tree_flush(f, false) == 0 && release(f) == 0 && plat.sent == 0);
}

static void malformed(void)
{
	fake_zero();
	plat.sent = 0;
	/* A status the platform has not: EINVAL, no request at all. */
	struct tree_file *f = open_ctl(triage, O_WRONLY);
	CHECK(put(f, "v1 NOPE\n", 0) == -EINVAL);
	CHECK(tree_flush(f, false) == 0 && release(f) == 0);
	/* A whole line but its newline, then a NUL: what came first is
	 * dropped too, so the close sends nothing. */
	f = open_ctl(triage, O_WRONLY);
	CHECK(put(f, "v1 DISMISSED", 0) == 12);
	CHECK(tree_write(f, "\0\n", 2, 12) == -EINVAL);
	CHECK(put(f, "\n", 12) == -EINVAL); /* refused for good */
	CHECK(tree_flush(f, false) == 0 && release(f) == 0);
	/* A write that is not at the end (a seek, without O_APPEND). */
	f = open_ctl(triage, O_WRONLY);
	CHECK(put(f, "v1 ", 0) == 3);
	CHECK(put(f, "DISMISSED\n", 8) == -EINVAL);
	CHECK(tree_flush(f, false) == 0 && release(f) == 0);
	/* More than a line: one finding per open, all or nothing. */
	f = open_ctl(triage, O_WRONLY);
	CHECK(put(f, "v1 DISMISSED\nv2", 0) == 15);
	CHECK(put(f, " DISMISSED\n", 15) == -EINVAL);
	CHECK(tree_flush(f, false) == 0 && release(f) == 0);
	/* Too much: EFBIG, nothing sent. */
	f = open_ctl(triage, O_WRONLY);
	size_t big = CTL_INPUT_MAX + 1;
	char *lots = malloc(big);
	CHECK(lots != NULL);
	if (lots) {
		memset(lots, 'v', big);
		CHECK(tree_write(f, lots, big, 0) == -EFBIG);
	}
	free(lots);
	CHECK(tree_flush(f, false) == 0 && release(f) == 0);
	CHECK(plat.sent == 0 && fake.asked == 0);
}

static void appending(void)
{
	/* echo ... >> vulns/triage, twice: the kernel puts each write at
	 * the size it believes (it grows with each open's input); each
	 * open acts once. */
	plat.sent = 0;
	off_t size = 0;
	static const char *const lines[] = { "v5 RESOLVED\n",
					     "v6 DISMISSED\n" };
	for (int i = 0; i < 2; i++) {
		struct tree_file *f = open_ctl(triage, O_WRONLY | O_APPEND);
		CHECK(put(f, lines[i], size) == (int)strlen(lines[i]));
		CHECK(plat.sent == i + 1);
		size += (off_t)strlen(lines[i]);
		CHECK(tree_flush(f, false) == 0 && release(f) == 0);
	}
	CHECK(plat.sent == 2 &&
	      strcmp(plat.path, "/v1/vulnerabilities/v6") == 0);
	/* The same write without O_APPEND is a seek: refused. */
	struct tree_file *f = open_ctl(triage, O_WRONLY);
	CHECK(put(f, "v7 RESOLVED\n", size) == -EINVAL);
	CHECK(release(f) == 0 && plat.sent == 2);
}

static void refusals(void)
{
	CHECK(triage_answered(404, "{\"code\":\"not_found\"}") == -ENOENT);
	CHECK(triage_answered(403, "{\"code\":\"missing_scope\"}") == -EACCES);
	CHECK(triage_answered(403, "{\"code\":\"sso_required\"}") == -EPERM);
	CHECK(triage_answered(409, "{\"code\":\"conflict\"}") == -EEXIST);
	CHECK(triage_answered(422, "{\"code\":\"invalid\"}") == -EINVAL);
	CHECK(triage_answered(503, "{\"code\":\"unavailable\"}") == -EIO);
	CHECK(triage_answered(200, "{}") == 12);
	/* The refusal stays with the handle: its read says it again, a
	 * retry on the same descriptor is refused, nothing is sent. */
	plat.status = 404;
	plat.sent = 0;
	ft_inval_zero();
	struct tree_file *f = open_ctl(triage, O_WRONLY);
	CHECK(put(f, "v9 RESOLVED\n", 0) == -ENOENT);
	char got[16];
	CHECK(tree_read(f, got, sizeof(got), 0) == -ENOENT);
	CHECK(put(f, "v9 RESOLVED\n", 12) == -EINVAL);
	CHECK(release(f) == 0 && plat.sent == 1);
	CHECK(ft_inval_all() == 0); /* nothing changed: nothing dropped */
	plat.status = 0;
}

static void token_new_flow(void)
{
	/* exec 3<>tokens/new; echo JSON >&3; read the secret <&3 */
	plat.body_out = "{\"tokenId\":\"t9\",\"name\":\"ci\","
			"\"token\":\"s3cret\"}";
	plat.sent = 0;
	struct tree_file *f = open_ctl(token_new, O_RDWR);
	const char *in = "{\"name\":\"ci\",\"scopes\":[\"vulns:read\"]}\n";
	CHECK(put(f, in, 0) == (int)strlen(in));
	CHECK(plat.sent == 1 && strcmp(plat.method, "POST") == 0 &&
	      strcmp(plat.path, "/v1/tokens") == 0 && strlen(plat.idem) > 8);
	char got[256], key1[64];
	snprintf(key1, sizeof(key1), "%s", plat.idem);
	int n = tree_read(f, got, sizeof(got) - 1, 0);
	CHECK(n > 0);
	got[n > 0 ? n : 0] = '\0';
	CHECK(strstr(got, "\"s3cret\"") != NULL);
	CHECK(tree_read(f, got, sizeof(got), n) == 0); /* read like a pipe */
	CHECK(release(f) == 0 && plat.sent == 1);
	/* Another open: another Idempotency-Key. */
	f = open_ctl(token_new, O_RDWR);
	CHECK(put(f, in, 0) == (int)strlen(in) && plat.sent == 2);
	CHECK(strcmp(plat.idem, key1) != 0);
	CHECK(release(f) == 0);
	/* A scope the credential lacks: refused before any request. */
	f = open_ctl(token_new, O_RDWR);
	const char *more = "{\"name\":\"x\",\"scopes\":[\"tokens:delete\"]}";
	CHECK(put(f, more, 0) == -EACCES && plat.sent == 2);
	CHECK(release(f) == 0 && plat.sent == 2);
	plat.body_out = NULL;
}

int main(void)
{
	char tmpl[] = "/tmp/test_ctl.XXXXXX";
	CHECK(mkdtemp(tmpl) != NULL);
	snprintf(root, sizeof(root), "%s", tmpl);
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/vulns", root);
	CHECK(mkdir(p, 0700) == 0);

	CHECK(ft_start("[\"vulns:read\",\"vulns:write\",\"tokens:read\","
		       "\"tokens:write\"]") == 0);
	CHECK(tree_set_ctl_root(root) == 0);
	fake.hook = hook;
	fake_set("/v1/vulnerabilities*", "{\"items\":[],\"nextToken\":null}");
	fake_set("/v1/applications*", "{\"items\":[],\"nextToken\":null}");
	fake_set("/v1/tokens*", "{\"items\":[],\"nextToken\":null}");

	vulns = ft_lookup(FUSE_ROOT_ID, "vulns", TREE_VIEW_CTL, NULL);
	triage = ft_lookup(vulns, "triage", TREE_VIEW_CTL, NULL);
	tokens = ft_lookup(FUSE_ROOT_ID, "tokens", TREE_VIEW_CTL, NULL);
	token_new = ft_lookup(tokens, "new", TREE_VIEW_CTL, NULL);

	whole_input();
	malformed();
	appending();
	refusals();
	token_new_flow();

	/* Without the write scope the open itself is refused. */
	cJSON *me = cJSON_Parse("{\"scopes\":[\"vulns:read\"]}");
	auth_set_identity(me);
	cJSON_Delete(me);
	struct tree_file *f = NULL;
	bool keep, direct;
	plat.sent = 0;
	CHECK(tree_open(triage, O_WRONLY, getpid(), &f, &keep, &direct) ==
		      -EACCES &&
	      !f && plat.sent == 0);
	/* Read-only opens are fine and read as empty (grep -r). */
	CHECK(tree_open(triage, O_RDONLY, getpid(), &f, &keep, &direct) == 0);
	char got[8];
	CHECK(f && tree_read(f, got, sizeof(got), 0) == 0);
	CHECK(f && release(f) == 0 && plat.sent == 0);

	fake.hook = NULL;
	ft_stop();
	char t[PATH_MAX + 32];
	snprintf(t, sizeof(t), "%s/triage", p);
	CHECK(unlink(t) == 0 && rmdir(p) == 0 && rmdir(root) == 0);
	return check_report("test_ctl");
}

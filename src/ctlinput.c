/* ctlinput.c - reading what a control file was given.
 *
 * A leaf (json): the kinds' callbacks use it to trim a word and to tell
 * when input is complete, without depending on the handles in ctl.c.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "apisecfs/ctlinput.h"
#include "apisecfs/json.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

char *ctlinput_word(const char *data, size_t len)
{
	while (len && is_space(*data)) {
		data++;
		len--;
	}
	while (len && is_space(data[len - 1]))
		len--;
	return len ? strndup(data, len) : NULL;
}

bool ctlinput_line_or_json(const char *data, size_t len)
{
	size_t i = 0;
	while (i < len && is_space(data[i]))
		i++;
	if (i < len && (data[i] == '{' || data[i] == '[')) {
		/* JSON may span lines: complete only once it parses. */
		cJSON *v = json_parse(data, len);
		bool ok = v != NULL;
		cJSON_Delete(v);
		return ok;
	}
	return len && data[len - 1] == '\n';
}

bool ctlinput_any(const char *data, size_t len)
{
	(void)data;
	return len > 0;
}

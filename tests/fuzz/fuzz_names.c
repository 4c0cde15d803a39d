/* fuzz_names.c - libFuzzer target for the name mapping.
 *
 * Input: names separated by '\n' (ids are derived from the position, and
 * every third one repeats an id, as hostile data may). The mapped names
 * must be unique, bounded, without '/', NUL or control characters, and
 * never "." or "..": any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/names.h"

static void check(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 255 || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct names_entry e[64];
	char ids[64][16];
	size_t n = 0;
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (char *p = text; n < 64;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		snprintf(ids[n], sizeof(ids[n]), "id_%zu", n % 3 ? n : 0);
		e[n].api_name = p;
		e[n].id = ids[n];
		n++;
		if (!nl)
			break;
		p = nl + 1;
	}
	static const char *const reserved[] = { "new", "all.jsonl", NULL };
	if (names_assign(e, n, size % 2 ? ".json" : "", reserved) == 0) {
		for (size_t i = 0; i < n; i++) {
			check(e[i].name);
			for (size_t j = 0; j < i; j++)
				if (!strcmp(e[i].name, e[j].name))
					abort();
		}
		for (size_t i = 0; i < n; i++)
			free(e[i].name);
	}
	free(text);
	return 0;
}

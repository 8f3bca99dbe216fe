/* /bin/sh of the shoal node image. It is NOT a shell: the image has none.
 *
 * git runs its local transport (clone/fetch/push of a path or file:// URL) through /bin/sh:
 *   sh -c "git-upload-pack '/path'" "git-upload-pack '/path'"
 *   sh -c 'CMD "$@"' CMD ARG...
 * This program accepts exactly that: one simple command made of plain words, single-quoted
 * words (git's sq_quote, including its '\'' and \! escapes) and a final "$@", and execs it
 * through PATH. Anything else (pipes, redirections, variables, globs, ;, &&...) is refused
 * with exit status 127, so `docker exec CONTAINER sh` gives no shell either.
 * Built by bin/build-image with the host's C compiler.  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int refuse(const char *why, const char *cmd) {
  fprintf(stderr, "sh: the shoal image has no shell; %s: %s\n", why, cmd ? cmd : "");
  return 127;
}

int main(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[1], "-c") != 0)
    return refuse("only `sh -c COMMAND` is accepted", argc > 1 ? argv[1] : "no arguments");
  const char *cmd = argv[2];
  size_t n = strlen(cmd);
  char *buf = malloc(n + 1);
  char **words = calloc(n + (size_t)argc + 2, sizeof *words);
  if (!buf || !words) return refuse("out of memory", cmd);
  int nw = 0, all_args = 0;
  const char *p = cmd;
  char *out = buf;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
    if (!*p) break;
    if (all_args) return refuse("\"$@\" must come last", cmd);
    if (strncmp(p, "\"$@\"", 4) == 0 && (p[4] == 0 || p[4] == ' ' || p[4] == '\t' || p[4] == '\n')) {
      all_args = 1; p += 4; continue;
    }
    char *start = out;
    while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
      if (*p == '\'') {                       /* '...' : everything literal up to the next ' */
        const char *end = strchr(p + 1, '\'');
        if (!end) return refuse("unterminated quote", cmd);
        memcpy(out, p + 1, (size_t)(end - p - 1)); out += end - p - 1; p = end + 1;
      } else if (*p == '\\') {                /* \x : x literally */
        if (!p[1]) return refuse("trailing backslash", cmd);
        *out++ = p[1]; p += 2;
      } else if (strchr("|&;<>()$`\"*?[#~", *p)) {
        return refuse("only a simple command can run", cmd);
      } else {
        *out++ = *p++;
      }
    }
    *out++ = 0;
    words[nw++] = start;
  }
  if (nw == 0) return refuse("empty command", cmd);
  if (all_args) for (int i = 4; i < argc; i++) words[nw++] = argv[i]; /* argv[3] is $0 */
  words[nw] = NULL;
  execvp(words[0], words);
  fprintf(stderr, "sh: %s: %s\n", words[0], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}

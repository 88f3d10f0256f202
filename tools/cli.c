/* cli.c: option parsing, help text, error reporting and small value parsers
 * shared by every metaidx command (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void vprint_error(const char *cmd, const char *fmt, va_list ap) {
  fprintf(stderr, "metaidx %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

int cli_fail(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprint_error(cmd, fmt, ap);
  va_end(ap);
  return CLI_EXIT_FAIL;
}

int cli_fail_err(const char *cmd, const mx_error *err) {
  if (err->message[0])
    return cli_fail(cmd, "%s", err->message);
  return cli_fail(cmd, "%s", mx_status_str(err->status));
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprint_error(cmd, fmt, ap);
  va_end(ap);
  fprintf(stderr, "run 'metaidx %s --help' for usage\n", cmd);
  return CLI_EXIT_USAGE;
}

static const char *type_metavar(const cli_opt *o) {
  if (o->metavar)
    return o->metavar;
  switch (o->type) {
  case CLI_U32:
  case CLI_U64:
    return "N";
  case CLI_DOUBLE:
    return "X";
  case CLI_STRING:
    return "VALUE";
  case CLI_FLAG:
    break;
  }
  return "";
}

void cli_help(const cli_command *cmd, FILE *out) {
  fprintf(out, "usage: metaidx %s [OPTIONS]%s%s\n\n%s\n\noptions:\n", cmd->name,
          cmd->args[0] ? " " : "", cmd->args, cmd->summary);
  size_t width = strlen("--help");
  for (const cli_opt *o = cmd->opts; o->name; o++) {
    size_t w = 2 + strlen(o->name) + (o->type == CLI_FLAG ? 0 : 1 + strlen(type_metavar(o)));
    if (w > width)
      width = w;
  }
  char left[128];
  for (const cli_opt *o = cmd->opts; o->name; o++) {
    if (o->type == CLI_FLAG)
      snprintf(left, sizeof left, "--%s", o->name);
    else
      snprintf(left, sizeof left, "--%s %s", o->name, type_metavar(o));
    fprintf(out, "  %-*s  %s%s\n", (int)width, left, o->help, o->required ? " (required)" : "");
  }
  fprintf(out, "  %-*s  %s\n", (int)width, "--help", "show this help and exit");
}

static cli_opt *find_opt(const cli_command *cmd, const char *name, size_t len) {
  for (cli_opt *o = cmd->opts; o->name; o++)
    if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
      return o;
  return NULL;
}

int cli_seen(const cli_opt *opts, const char *name) {
  for (const cli_opt *o = opts; o->name; o++)
    if (strcmp(o->name, name) == 0)
      return o->seen;
  return 0;
}

/* Unsigned decimal integer: digits only, no sign, no trailing bytes. */
static int parse_unsigned(const char *s, uint64_t max, uint64_t *out) {
  if (!*s)
    return -1;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9')
      return -1;
  errno = 0;
  unsigned long long v = strtoull(s, NULL, 10);
  if (errno == ERANGE || v > max)
    return -1;
  *out = v;
  return 0;
}

static int set_value(const char *cmdname, cli_opt *o, const char *value) {
  uint64_t u;
  switch (o->type) {
  case CLI_FLAG:
    *(int *)o->dest = 1;
    return 0;
  case CLI_U32:
    if (parse_unsigned(value, UINT32_MAX, &u) != 0)
      return cli_usage_error(cmdname,
                             "invalid value '%s' for --%s: expected an integer in [0, %u]",
                             value, o->name, (unsigned)UINT32_MAX);
    *(uint32_t *)o->dest = (uint32_t)u;
    return 0;
  case CLI_U64:
    if (parse_unsigned(value, UINT64_MAX, &u) != 0)
      return cli_usage_error(cmdname,
                             "invalid value '%s' for --%s: expected a non-negative integer",
                             value, o->name);
    *(uint64_t *)o->dest = u;
    return 0;
  case CLI_DOUBLE: {
    char *end = NULL;
    errno = 0;
    double d = strtod(value, &end);
    if (!*value || *end || errno == ERANGE || !isfinite(d))
      return cli_usage_error(cmdname, "invalid value '%s' for --%s: expected a number", value,
                             o->name);
    *(double *)o->dest = d;
    return 0;
  }
  case CLI_STRING:
    if (!*value)
      return cli_usage_error(cmdname, "empty value for --%s", o->name);
    *(const char **)o->dest = value;
    return 0;
  }
  return cli_usage_error(cmdname, "internal: bad option type for --%s", o->name);
}

int cli_parse(const cli_command *cmd, int argc, char **argv, char **pos, uint32_t pos_cap,
              uint32_t *n_pos) {
  *n_pos = 0;
  for (cli_opt *o = cmd->opts; o->name; o++)
    o->seen = 0;
  int only_pos = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) {
      if (*n_pos >= pos_cap || *n_pos >= cmd->max_pos)
        return cli_usage_error(cmd->name, "unexpected argument '%s'", a);
      pos[(*n_pos)++] = argv[i];
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_pos = 1;
      continue;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      cli_help(cmd, stdout);
      return CLI_EXIT_OK;
    }
    if (a[1] != '-')
      return cli_usage_error(cmd->name, "unknown option '%s'", a);
    const char *name = a + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    cli_opt *o = find_opt(cmd, name, len);
    if (!o)
      return cli_usage_error(cmd->name, "unknown option '--%.*s'", (int)len, name);
    const char *value = NULL;
    if (o->type == CLI_FLAG) {
      if (eq)
        return cli_usage_error(cmd->name, "option --%s takes no value", o->name);
    } else if (eq) {
      value = eq + 1;
    } else {
      if (i + 1 >= argc)
        return cli_usage_error(cmd->name, "option --%s needs a value (%s)", o->name,
                               type_metavar(o));
      value = argv[++i];
    }
    int rc = set_value(cmd->name, o, value);
    if (rc != 0)
      return rc;
    o->seen = 1;
  }
  for (cli_opt *o = cmd->opts; o->name; o++)
    if (o->required && !o->seen)
      return cli_usage_error(cmd->name, "missing required option --%s", o->name);
  if (*n_pos < cmd->min_pos)
    return cli_usage_error(cmd->name, "missing argument %s", cmd->args);
  return CLI_CONTINUE;
}

FILE *cli_open_out(const char *cmd, const char *path) {
  if (!path || strcmp(path, "-") == 0)
    return stdout;
  FILE *f = fopen(path, "w");
  if (!f)
    cli_fail(cmd, "%s: cannot open for writing: %s", path, strerror(errno));
  return f;
}

int cli_close_out(const char *cmd, const char *path, FILE *f) {
  if (!f)
    return 0;
  int bad = ferror(f);
  if (f == stdout) {
    if (fflush(f) != 0 || bad)
      return cli_fail(cmd, "writing standard output: %s", strerror(errno));
    return 0;
  }
  if (fclose(f) != 0 || bad)
    return cli_fail(cmd, "%s: write failed: %s", path, strerror(errno));
  return 0;
}

int cli_print_json(const char *cmd, FILE *out, const json_t *o, size_t flags) {
  char *text = json_dumps(o, flags);
  if (!text)
    return cli_fail(cmd, "out of memory");
  fprintf(out, "%s\n", text);
  free(text);
  return 0;
}

int cli_check_threads(const char *cmd, uint32_t threads) {
  if (threads > MX_MAX_THREADS)
    return cli_usage_error(cmd, "--threads %u is more than %d", threads, MX_MAX_THREADS);
  return 0;
}

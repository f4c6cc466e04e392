#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vidlstm %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_fail_status(const char *cmd) { return cli_fail(cmd, "%s", vl_errmsg()); }

int cli_stdout_reported;

static int match(cli_args *a, const char *name, int takes_value)
{
    const char *s = a->argv[a->i];
    size_t n = strlen(name);
    if (strncmp(s, name, n))
        return 0;
    if (!takes_value)
        return s[n] == '\0';
    if (s[n] == '=') {
        a->val = s + n + 1;
        return 1;
    }
    if (s[n] != '\0')
        return 0;
    if (a->i + 1 >= a->argc) {
        cli_fail(a->cmd, "option %s needs a value", name);
        a->bad = 1;
        a->val = "";
        return 1;
    }
    a->val = a->argv[++a->i];
    return 1;
}

int cli_opt(cli_args *a, const char *name) { return match(a, name, 1); }
int cli_flag(cli_args *a, const char *name) { return match(a, name, 0); }

int cli_int(cli_args *a, long lo, long hi)
{
    if (a->bad) /* the option had no value: already reported */
        return (int)lo;
    char *e;
    errno = 0;
    long v = strtol(a->val, &e, 10);
    if (!*a->val || *e || errno || v < lo || v > hi) {
        cli_fail(a->cmd, "%s: '%s' is not an integer in %ld..%ld", a->argv[a->i - (strchr(a->argv[a->i], '=') ? 0 : 1)],
                 a->val, lo, hi);
        a->bad = 1;
        return (int)lo;
    }
    return (int)v;
}

double cli_num(cli_args *a, double lo, double hi)
{
    if (a->bad) /* the option had no value: already reported */
        return lo;
    char *e;
    errno = 0;
    double v = strtod(a->val, &e);
    if (!*a->val || *e || errno || !isfinite(v) || v < lo || v > hi) {
        cli_fail(a->cmd, "%s: '%s' is not a number in [%g, %g]",
                 a->argv[a->i - (strchr(a->argv[a->i], '=') ? 0 : 1)], a->val, lo, hi);
        a->bad = 1;
        return lo;
    }
    return v;
}

/* Shared pieces of the command-line front end: option parsing with clear
 * errors, and the error line every command prints on failure. */
#ifndef VL_CLI_CLI_H
#define VL_CLI_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "vidlstm.h"

/* Prints "vidlstm CMD: message" to stderr and returns 1 (the exit status). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with vl_errmsg() as the message. */
int cli_fail_status(const char *cmd);
/* Set by a command that already reported a write error on stdout (main
 * checks stdout at exit and reports it otherwise). */
extern int cli_stdout_reported;

/* Argument cursor: `--name value` or `--name=value`. */
typedef struct {
    int argc, i;
    char **argv;
    const char *cmd;
    const char *val; /* value of the last matched option */
    int bad;         /* set when an option lacks its value or has a bad one */
} cli_args;

/* 1 if argv[i] is option `name` (taking a value: it is consumed into a->val). */
int cli_opt(cli_args *a, const char *name);
/* 1 if argv[i] is the flag `name` (no value). */
int cli_flag(cli_args *a, const char *name);
/* Value parsers: on a bad value print an error naming the option, set a->bad. */
int cli_int(cli_args *a, long lo, long hi);
double cli_num(cli_args *a, double lo, double hi);

/* Per-command help texts (also the README's reference). */
void cli_help_train(FILE *f);
void cli_help_eval(FILE *f);
void cli_help_predict(FILE *f);
void cli_help_extract(FILE *f);
void cli_help_demo(FILE *f);
void cli_help_backbones(FILE *f);
void cli_help_fetch(FILE *f);
/* Named backbones fetched by any command report on stderr (quiet: not). */
void cli_fetch_setup(int quiet);
void cli_help_import_tfjs(FILE *f);
void cli_help_export(FILE *f);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_backbones(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_import_tfjs(int argc, char **argv);
int cmd_export(int argc, char **argv);

#endif

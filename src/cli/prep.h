/* The input preprocessing options of train and extract (--preprocess,
 * --input-range, --mean, --std, --channel-order; backbone/preprocess.h). */
#ifndef VL_CLI_PREP_H
#define VL_CLI_PREP_H

#include <stdio.h>

#include "backbone/preprocess.h"
#include "cli/cli.h"

typedef struct {
    const char *preset, *range, *mean, *std, *order; /* as given, NULL = not */
    const char *precision;                           /* --precision, NULL = not given */
} cli_prep;

/* 1 when argv[a->i] is one of the options (its value stored in p). */
int cli_prep_opt(cli_args *a, cli_prep *p);
/* The normalisation the options ask for: 0 with *set = 0 when none was
 * given; 0 with *set = 1 and n filled; or 1 after printing one error. */
int cli_prep_finish(const char *cmd, const cli_prep *p, vl_input_norm *n, int *set);
/* --precision fp32|bf16|int8 (vl_precision_parse): 0 with *out set (fp32
 * when not given), or 1 after printing one error. */
int cli_prep_precision(const char *cmd, const char *s, vl_precision *out);
/* "LO,HI" / "R,G,B": exactly `count` finite numbers separated by commas;
 * 0, or -1. import-tfjs --input-range reads its value with this too. */
int cli_parse_floats(const char *s, float *out, int count);
/* The options' lines for a command's --help. */
void cli_prep_help(FILE *f);

#endif

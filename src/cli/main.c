#include <stdio.h>
#include "vidlstm.h"
int main(int argc, char **argv) { (void)argc; (void)argv; printf("vidlstm %s\n", vl_version()); return 0; }

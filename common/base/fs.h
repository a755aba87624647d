/*
 * fs.h - small file-system helpers shared by the state backend, checkpoints and sinks.
 */
#ifndef CF_FS_H
#define CF_FS_H

#include <sys/types.h>

/* mkdir -p: creates dir and its missing parents with mode. Returns 0 or an errno value
 * (ENOTDIR when the last component exists but is not a directory). */
int cf_mkdirs(const char *dir, mode_t mode);

#endif

/*
 * fs.c - file-system helpers. See fs.h.
 */
#include "fs.h"

#include <errno.h>
#include <sys/stat.h>

#include "mem.h"

int cf_mkdirs(const char *dir, mode_t mode)
{
    char *path = cf_strdup(dir);
    int rc = 0;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }
        char c = *p;
        *p = '\0';
        if (mkdir(path, mode) != 0 && errno != EEXIST) {
            rc = errno;
            goto out;
        }
        *p = c;
        if (c == '\0') {
            break;
        }
    }
    /* EEXIST above may have been a file: the last component must be a directory. */
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        rc = errno;
    } else if (!S_ISDIR(sb.st_mode)) {
        rc = ENOTDIR;
    }
out:
    cf_free(path);
    return rc;
}

#include "id.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "timeutil.h"

void cf_id_new(char out[CF_ID_LEN + 1])
{
    unsigned char raw[CF_ID_LEN / 2];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, raw, sizeof(raw)) : -1;
    if (fd >= 0) {
        close(fd);
    }
    if (n != (ssize_t)sizeof(raw)) {
        /* No kernel randomness: mix clocks and the pid (unique enough for one host). */
        uint64_t t = (uint64_t)cf_monotonic_ns() ^ ((uint64_t)cf_now_ms() << 20);
        for (size_t i = 0; i < sizeof(raw); i++) {
            t = t * 6364136223846793005ULL + (uint64_t)getpid() + i;
            raw[i] = (unsigned char)(t >> 56);
        }
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    }
}

int cf_id_valid(const char *s)
{
    if (!s || strlen(s) != CF_ID_LEN) {
        return 0;
    }
    for (const char *p = s; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

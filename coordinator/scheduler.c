#include "scheduler.h"

int cf_sched_assign(struct cf_sched_worker *workers, int nworkers, int nslots, int *slot_worker,
                    struct cf_err *err)
{
    int free_total = 0;
    for (int w = 0; w < nworkers; w++) {
        if (workers[w].available && workers[w].slots > workers[w].used) {
            free_total += workers[w].slots - workers[w].used;
        }
    }
    if (free_total < nslots) {
        return cf_err_set(err, CF_EAGAIN, "the job needs %d slots; %d free on %d available workers",
                          nslots, free_total, nworkers);
    }
    /* Each slot goes to the available worker with the most free slots (lowest index on
     * ties), which spreads a job evenly and fills emptier workers first. */
    for (int s = 0; s < nslots; s++) {
        int best = -1;
        int best_free = 0;
        for (int w = 0; w < nworkers; w++) {
            int f = workers[w].slots - workers[w].used;
            if (workers[w].available && f > best_free) {
                best = w;
                best_free = f;
            }
        }
        slot_worker[s] = best;
        workers[best].used++;
    }
    return 0;
}

void cf_sched_release(struct cf_sched_worker *workers, int nworkers, int nslots,
                      const int *slot_worker)
{
    for (int s = 0; s < nslots; s++) {
        int w = slot_worker[s];
        if (w >= 0 && w < nworkers && workers[w].used > 0) {
            workers[w].used--;
        }
    }
}

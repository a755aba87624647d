/*
 * scheduler.h - placing a job's subtasks on worker slots.
 *
 * Slot sharing as in Flink: one slot holds one subtask of every vertex of a job, so a job
 * needs as many slots as its largest vertex parallelism; subtask i of every vertex goes to
 * the job's slot i (vertices with fewer subtasks use the first slots). Slots are spread over
 * the workers round-robin, most free slots first (Flink's evenly-spread-out-slots), so a
 * job's load lands on every worker. Pure logic; the caller (the coordinator) serializes
 * access to the worker table.
 */
#ifndef CF_SCHEDULER_H
#define CF_SCHEDULER_H

#include "common/base/err.h"

struct cf_sched_worker {
    int slots;     /* slots the worker offers */
    int used;      /* slots taken by running jobs */
    int available; /* 0: lost or draining, never chosen */
};

/*
 * Chooses a worker for each of the job's `nslots` slots. On success fills slot_worker
 * (nslots entries, worker indexes), adds to each chosen worker's `used` and returns 0; when
 * the available free slots are too few returns CF_EAGAIN with err saying how many are
 * needed and free (the coordinator waits for workers, as Flink waits for resources).
 */
int cf_sched_assign(struct cf_sched_worker *workers, int nworkers, int nslots, int *slot_worker,
                    struct cf_err *err);
/* Gives the slots back (a job ended or is rescheduled). */
void cf_sched_release(struct cf_sched_worker *workers, int nworkers, int nslots,
                      const int *slot_worker);

#endif

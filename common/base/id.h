/*
 * id.h - random identifiers: job ids are 32 lowercase hex characters (Flink's JobID shape).
 */
#ifndef CF_ID_H
#define CF_ID_H

#define CF_ID_LEN 32

/* Writes a new random id and a NUL into out (CF_ID_LEN + 1 bytes). Any thread. */
void cf_id_new(char out[CF_ID_LEN + 1]);
/* 1 if s is 32 lowercase hex characters. */
int cf_id_valid(const char *s);

#endif

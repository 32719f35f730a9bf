/*
 * file.h — reading a whole file we were told to read (a config, a key, a
 * policy, a type registry, a bundle), in one place and the same careful way:
 *   - through one descriptor, opened O_CLOEXEC | O_NOCTTY, so what is checked
 *     is what is read;
 *   - a regular file only: a directory is a mistake, and a FIFO or a device
 *     would block the daemon's start or never end;
 *   - bounded: a wrong path (a log, a disk image) fails fast instead of
 *     filling memory; reading one byte past the bound tells "exactly at the
 *     limit" from "larger";
 *   - optionally text (no NUL byte: inih and C strings would stop there and
 *     quietly ignore the rest) and secret (no access for group or others, as
 *     ssh demands of a private key).
 * Errors come back as a knoop code and, for the operator, a reason without
 * the path (the caller knows what the file is for and names it).
 *
 * Thread-safe; blocks on the file system.
 */
#ifndef KNOOP_FILE_H
#define KNOOP_FILE_H

#include "knoop.h"

#define KNOOP_FILE_TEXT   1u    /* refuse a NUL byte */
#define KNOOP_FILE_SECRET 2u    /* refuse a file group or others may access */

/* Read the regular file at path, at most max bytes, appending it to out
 * (which the caller owns and frees, also on failure). On success out->len
 * grew by the file's size and a NUL follows the data (not counted), so a
 * text file can be used as a C string.
 *
 * why: when not NULL, on failure one reason without the path, e.g.
 * "cannot open: No such file or directory", "not a regular file",
 * "larger than 65536 bytes", "contains a NUL byte; not a text file"; ""
 * on success.
 *
 * Returns KNOOP_OK, or:
 *   KNOOP_ENOTFOUND, KNOOP_EPERM, KNOOP_EIO, ...  open/stat/read failed
 *                    (knoop_err_from_errno of the cause)
 *   KNOOP_EMALFORMED not a regular file; with KNOOP_FILE_TEXT, a NUL byte
 *   KNOOP_EPERM      with KNOOP_FILE_SECRET, mode allows group or others
 *   KNOOP_ETOOBIG    larger than max bytes
 *   KNOOP_ENOMEM */
int knoop_file_read(const char *path, size_t max, unsigned flags, knoop_buf_t *out,
                    char *why, size_t why_size);

#endif

/*
 * outfile.h -- output files that never exist half-written under their final name.
 *
 * The output is written to a temporary file ".NAME.XXXXXX" in the same directory (so the
 * final rename cannot cross file systems), synced, checked by the caller, given the input's
 * mode and times, and only then renamed over the final name; the directory is synced after
 * the rename so the input may safely be removed.  Any failure unlinks the temporary file.
 */
#ifndef LMZ_CLI_OUTFILE_H
#define LMZ_CLI_OUTFILE_H

#include <stdbool.h>
#include <sys/stat.h>

struct outfile {
    const char *final_path;
    char *temp_path;    /* NULL once committed or discarded */
    int fd;
};

/* Create the temporary file.  Returns 0, or -1 with errno set. */
int outfile_create(struct outfile *of, const char *final_path);

/* fsync the temporary file.  Returns 0, or -1 with errno set. */
int outfile_sync(struct outfile *of);

/* Give the temporary file the mode (& 07777), owner (when permitted) and access and
 * modification times of st.  Returns 0, or -1 with errno set. */
int outfile_copy_attributes(struct outfile *of, const struct stat *st);

/* Give the temporary file the mode a newly created file would have. */
int outfile_default_mode(struct outfile *of, mode_t umask_bits);

/* Close and rename to the final name, replacing an existing file only if overwrite, then
 * sync the directory.  Returns 0, or -1 with errno set (the temporary file is then still
 * there: call outfile_discard). */
int outfile_commit(struct outfile *of, bool overwrite);

/* Close and unlink the temporary file, if any.  Safe to call after a commit. */
void outfile_discard(struct outfile *of);

#endif

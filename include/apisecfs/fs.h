/* fs.h - the FUSE lowlevel operations tables (fs.c): one for the data
 * mount, one for the control mount (tree.h says why there are two). */
#ifndef APISECFS_FS_H
#define APISECFS_FS_H

#include <stdbool.h>

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops fs_data_ops;
extern const struct fuse_lowlevel_ops fs_ctl_ops;

/* The userdata to give fuse_session_new for each table. */
void *fs_userdata(bool ctl);

#endif

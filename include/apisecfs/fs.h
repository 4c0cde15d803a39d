/* fs.h - the FUSE lowlevel operations table (fs.c). */
#ifndef APISECFS_FS_H
#define APISECFS_FS_H

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops fs_ops;

#endif

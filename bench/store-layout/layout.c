// What the embedded store's file work costs per 1 MiB object, and what another layout would: the kernel's share of
// "kernel: files" in bench/profile, without detach around it. One process, one object at a time, CPU (user + system)
// and wall-clock time per object.
//
//   file             LocalContentStore's way: a new temporary file, four 256 KiB pwrites, fsync, the page cache
//                    dropped (posix_fadvise DONTNEED), close, rename into one of 1,024 shard folders, fsync of that folder
//   file-no-dirsync  the same without the folder's fsync (not durable: the rename may be lost; shows that fsync's share)
//   pack             appended to one pack file instead: four 256 KiB writes, fdatasync, the page cache dropped
//   pack-group4      appended to one pack file, one fdatasync per four objects (writers that share a sync)
//
// Usage: layout MODE OBJECTS   (in the folder to write to; it leaves OBJECTS MiB there)
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { Chunk = 256 * 1024, Chunks = 4, Shards = 1024 };

static double cpu_seconds(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static double wall_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void check(int ok, const char *what) {
  if (!ok) {
    perror(what);
    exit(1);
  }
}

static void store_file(const char *data, int i, int dirsync) {
  char temp[64], shard[16], target[64];
  snprintf(temp, sizeof temp, "tmp/%d", i);
  snprintf(shard, sizeof shard, "%03x", i % Shards);
  snprintf(target, sizeof target, "%s/%d", shard, i);
  int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0600);
  check(fd >= 0, "open");
  for (int k = 0; k < Chunks; k++) check(pwrite(fd, data + (size_t)k * Chunk, Chunk, (off_t)k * Chunk) == Chunk, "pwrite");
  check(fsync(fd) == 0, "fsync");
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
  check(rename(temp, target) == 0, "rename");
  if (dirsync) {
    int dir = open(shard, O_RDONLY);
    check(dir >= 0 && fsync(dir) == 0, "fsync shard");
    close(dir);
  }
}

static void store_pack(int pack, const char *data, int sync) {
  for (int k = 0; k < Chunks; k++) check(write(pack, data + (size_t)k * Chunk, Chunk) == Chunk, "write");
  if (sync) {
    check(fdatasync(pack) == 0, "fdatasync");
    posix_fadvise(pack, 0, 0, POSIX_FADV_DONTNEED);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: layout file|file-no-dirsync|pack|pack-group4 OBJECTS\n");
    return 2;
  }
  const char *mode = argv[1];
  int objects = atoi(argv[2]);
  char *data = malloc((size_t)Chunk * Chunks);
  for (size_t i = 0; i < (size_t)Chunk * Chunks; i++) data[i] = (char)rand(); // ciphertext does not compress either
  mkdir("tmp", 0700);
  for (int s = 0; s < Shards; s++) {
    char shard[16];
    snprintf(shard, sizeof shard, "%03x", s);
    mkdir(shard, 0700);
  }
  int pack = open("pack", O_WRONLY | O_CREAT | O_APPEND, 0600);
  check(pack >= 0, "open pack");

  double cpu = cpu_seconds(), wall = wall_seconds();
  for (int i = 0; i < objects; i++) {
    if (strcmp(mode, "file") == 0) store_file(data, i, 1);
    else if (strcmp(mode, "file-no-dirsync") == 0) store_file(data, i, 0);
    else if (strcmp(mode, "pack") == 0) store_pack(pack, data, 1);
    else if (strcmp(mode, "pack-group4") == 0) store_pack(pack, data, i % 4 == 3 || i == objects - 1);
    else {
      fprintf(stderr, "unknown mode %s\n", mode);
      return 2;
    }
  }
  printf("%s\t%.3f\t%.3f\n", mode, (cpu_seconds() - cpu) * 1000 / objects, (wall_seconds() - wall) * 1000 / objects);
  return 0;
}

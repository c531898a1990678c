#!/bin/bash
# PID 1 of the test container (tests/systemd/container.py starts it under
# `unshare --pid --fork --mount --cgroup --uts --ipc`). It builds a throw-away root and execs a
# real systemd. The recipe is ../shared/notes/systemd-in-ci.md, option 1.
#
#   $1: a directory on the host. A tmpfs is mounted on it inside this mount namespace. It holds
#       the overlay's upper and work directories, so the host's / is never written.
#
# Every mount is made inside the private mount namespace. When the namespace's last process
# exits, the kernel removes them, so a crashed test leaves no mounts on the host.
#
# The host network namespace is shared, not unshared: the test's mariadbd and fakemongod
# listen on the host's loopback, and sdl reaches them there. Nothing in the container touches
# the network: the boot target is empty, /sys and /proc/sys are read-only, and the only
# services started are those the test starts, with their dependencies.
set -eu
S=$1/state
mkdir -p "$S"
mount -t tmpfs -o mode=755 tmpfs "$S"
mkdir -p "$S/upper" "$S/work" "$S/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$S/upper,workdir=$S/work" "$S/root"
cd "$S/root"
mount -t proc proc proc
mount --bind proc/sys proc/sys && mount -o remount,bind,ro proc/sys     # no host sysctl writes
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs sys                      # udev units skip themselves
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 sys/fs/cgroup           # unified, rooted at our cgroup
mount -t tmpfs -o mode=755,nosuid tmpfs dev
for d in null zero full random urandom tty; do
    touch "dev/$d"
    mount --bind "/dev/$d" "dev/$d"
done
mkdir -p dev/pts dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts dev/pts
ln -s pts/ptmx dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs dev/shm
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs tmp
mkdir -p run/systemd/system etc/systemd/system
# An empty boot target: nothing of the host's multi-user.target (mariadb, postgresql, ...)
# starts. Units the test starts pull in sysinit.target and network-online.target. The host
# services those would pull in and that have no place here are masked.
printf '[Unit]\nDescription=sdl test boot target\nDefaultDependencies=no\n' \
    > run/systemd/system/sdltest.target
for u in systemd-timesyncd.service systemd-pstore.service e2scrub_reap.service \
         apt-daily.timer apt-daily-upgrade.timer man-db.timer dpkg-db-backup.timer \
         e2scrub_all.timer fstrim.timer getty@tty1.service; do
    ln -sf /dev/null "run/systemd/system/$u"
done
mkdir -p oldroot
pivot_root . oldroot
umount -l /oldroot
rmdir /oldroot
cd /
# Without a shared / the credentials mount (LoadCredential=) made in a child namespace does
# not propagate back, and $CREDENTIALS_DIRECTORY is empty (notes, pitfall 1).
mount --make-rshared /
exec env -i container=sdl-test TERM=dumb /lib/systemd/systemd --system --unit=sdltest.target \
    --log-target=journal --show-status=no

#!/bin/sh
# Builds the tests' container image without any registry: a root filesystem made of the
# static busybox from the Debian package busybox-static (/bin/busybox) and a symlink for
# each of its applets, imported with `docker import` (`podman import` with ENGINE=podman).
#
#   sh test/images/build-busybox.sh [IMAGE]      (IMAGE defaults to ruche-test/busybox:latest)
#   ENGINE=podman sh test/images/build-busybox.sh [IMAGE]   (the same image in podman's storage)
#
# The image runs /bin/sh by default, has PATH set, a root and a nobody user, and a page at
# /www/index.html ("ruche-test-busybox"), so `busybox httpd -f -p 8080 -h /www` serves it.
# It carries the label ruche.test.image-version (the cksum of this file):
# scripts/test-deps.sh rebuilds the image whenever this file changes.
set -eu

IMAGE=${1:-ruche-test/busybox:latest}
BUSYBOX=${BUSYBOX:-/bin/busybox}
ENGINE=${ENGINE:-docker}

fail() {
  echo "build-busybox: $*" >&2
  exit 1
}

[ -x "$BUSYBOX" ] || fail "$BUSYBOX not found: install the Debian package busybox-static"
# A dynamically linked busybox (Debian package busybox) would not run in an image without a libc.
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  fail "$BUSYBOX is dynamically linked: install the Debian package busybox-static instead of busybox"
fi
command -v "$ENGINE" >/dev/null 2>&1 || fail "the $ENGINE command is missing"

version=$(cksum <"$0" | cut -d' ' -f1)
rootfs=$(mktemp -d "${TMPDIR:-/tmp}/ruche-busybox-rootfs.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT INT TERM

mkdir -p "$rootfs/bin" "$rootfs/sbin" "$rootfs/usr/bin" "$rootfs/usr/sbin" \
  "$rootfs/etc" "$rootfs/root" "$rootfs/tmp" "$rootfs/var/log" "$rootfs/www" \
  "$rootfs/dev" "$rootfs/proc" "$rootfs/sys"
chmod 1777 "$rootfs/tmp"
chmod 700 "$rootfs/root"
cp "$BUSYBOX" "$rootfs/bin/busybox"
chmod 755 "$rootfs/bin/busybox"
"$BUSYBOX" --list-full | while read -r applet; do
  [ -e "$rootfs/$applet" ] || ln -s /bin/busybox "$rootfs/$applet"
done
[ -L "$rootfs/bin/sh" ] || fail "$BUSYBOX has no sh applet"

cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo ruche-test-busybox >"$rootfs/www/index.html"

tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf - . |
  "$ENGINE" import \
    --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'WORKDIR /' \
    --change 'CMD ["/bin/sh"]' \
    --change "LABEL ruche.test.image-version=$version" \
    --message "ruche test image from $($BUSYBOX | head -n 1)" \
    - "$IMAGE" >/dev/null ||
  fail "$ENGINE import of $IMAGE failed"

echo "build-busybox: built $IMAGE (version $version)"

/*
 * linux/service.c: systemd's sd_notify protocol, spoken directly: one
 * datagram to the AF_UNIX socket named by $NOTIFY_SOCKET ('@' means the
 * abstract namespace). See platform.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "util.h"
#include "platform.h"
#include "banned.h"

void
plat_service_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t n;
	socklen_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	(void)sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, len);
	close(fd);
}

int64_t
plat_service_watchdog_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	long long v, p;

	if (usec == NULL || util_parse_ll(usec, 1, (long long)1 << 50, &v) != 0)
		return 0;
	if (pid != NULL && (util_parse_ll(pid, 1, 1 << 30, &p) != 0 ||
	    p != (long long)getpid()))
		return 0;
	return v / 1000;
}

int
plat_boot_id(char *out, size_t n)
{
	ssize_t k;
	int fd;

	if (n < 2 || (fd = open("/proc/sys/kernel/random/boot_id",
	    O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	k = read(fd, out, n - 1);
	close(fd);
	if (k <= 0)
		return -1;
	while (k > 0 && (out[k - 1] == '\n' || out[k - 1] == ' '))
		k--;
	out[k] = '\0';
	return k > 0 ? 0 : -1;
}

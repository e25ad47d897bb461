// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * nl-fuzz: stress for the "vbus" generic netlink family, for the VM stress
 * suite (tests/vm/stress.sh). "storm" runs worker processes doing DEV_NEW,
 * DEV_DEL and DEV_SET on shared names, "fuzz" sends seeded random and
 * malformed requests and checks that the kernel answers every one of them.
 * Raw netlink sockets (no libnl): the malformed messages are built by hand.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/vbus.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define MSG_MAX		(16 * 1024)
#define RECV_BUF	(256 * 1024)
#define MAX_ERRNO	134	/* errno values counted one by one; others go to the last slot */
#define MAX_WORKERS	16
#define MAX_MGMT	4
#define MAX_DEVS	256

static const char *prog = "nl-fuzz";
static int arg_timeout_ms = 10000;

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *errname(int e)
{
	const char *s;

	if (!e)
		return "ok";
	s = strerrorname_np(e);
	return s ?: "E?";
}

/* ---- random numbers: splitmix64, so a seed names one message sequence ---------------------- */

static uint64_t rng_state;

static uint64_t rnd64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned int rnd(unsigned int n)
{
	return n ? rnd64() % n : 0;
}

static bool chance(unsigned int percent)
{
	return rnd(100) < percent;
}

/* ---- messages ------------------------------------------------------------------------------- */

struct msg {
	uint8_t buf[MSG_MAX];
	size_t len;
};

static void *msg_reserve(struct msg *m, size_t n)
{
	void *p;

	if (m->len + NLMSG_ALIGN(n) > sizeof(m->buf))
		return NULL;
	p = m->buf + m->len;
	memset(p, 0, NLMSG_ALIGN(n));
	m->len += NLMSG_ALIGN(n);
	return p;
}

/* Starts a genl message at the end of @m (several may share one datagram). */
static struct nlmsghdr *msg_start(struct msg *m, uint16_t type, uint16_t flags, uint32_t seq,
				  uint8_t cmd, uint8_t version)
{
	struct nlmsghdr *nlh = msg_reserve(m, NLMSG_HDRLEN);
	struct genlmsghdr *g = msg_reserve(m, GENL_HDRLEN);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	g->cmd = cmd;
	g->version = version;
	return nlh;
}

static void msg_end(struct msg *m, struct nlmsghdr *nlh)
{
	nlh->nlmsg_len = m->buf + m->len - (uint8_t *)nlh;
}

/* Returns the attribute, or NULL when it does not fit (the caller skips it). */
static struct nlattr *put_attr(struct msg *m, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a;

	if (m->len + NLA_HDRLEN + NLA_ALIGN(len) > sizeof(m->buf))
		return NULL;
	a = msg_reserve(m, NLA_HDRLEN + len);
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
	return a;
}

static struct nlattr *put_str(struct msg *m, uint16_t type, const char *s)
{
	return put_attr(m, type, s, strlen(s) + 1);
}

static struct nlattr *nest_start(struct msg *m, uint16_t type)
{
	return put_attr(m, type | NLA_F_NESTED, NULL, 0);
}

static void nest_end(struct msg *m, struct nlattr *a)
{
	if (a)
		a->nla_len = m->buf + m->len - (uint8_t *)a;
}

/* ---- sockets and transactions --------------------------------------------------------------- */

struct nl {
	int fd;
	uint32_t seq;
	uint8_t *rbuf;
};

struct reply {
	int err;		/* 0 or a positive errno from the kernel */
	bool lost;		/* no answer: timeout or socket error */
	bool timeout;
	char msg[256];		/* extack message */
	unsigned int parts;	/* messages before the ACK or DONE */
};

static void nl_open(struct nl *nl, int rcvbuf)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int one = 1;

	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (nl->fd < 0)
		die("socket: %m");
	if (bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind: %m");
	if (setsockopt(nl->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)) < 0)
		die("NETLINK_EXT_ACK: %m");
	/* The error carries only the header of the request, not its 4096-byte names. */
	if (setsockopt(nl->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
		die("NETLINK_CAP_ACK: %m");
	if (rcvbuf && setsockopt(nl->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		die("SO_RCVBUF: %m");
	nl->rbuf = malloc(RECV_BUF);
	if (!nl->rbuf)
		die("out of memory");
	nl->seq = 1;
}

static void parse_extack(const struct nlmsghdr *nlh, size_t off, struct reply *r)
{
	const struct nlattr *a;
	int rem;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || off > nlh->nlmsg_len)
		return;
	a = (const struct nlattr *)((const uint8_t *)nlh + off);
	rem = nlh->nlmsg_len - off;
	while (rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= rem) {
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG)
			snprintf(r->msg, sizeof(r->msg), "%.*s", (int)(a->nla_len - NLA_HDRLEN),
				 (const char *)a + NLA_HDRLEN);
		rem -= NLA_ALIGN(a->nla_len);
		a = (const struct nlattr *)((const uint8_t *)a + NLA_ALIGN(a->nla_len));
	}
}

typedef void (*reply_cb)(const struct nlmsghdr *nlh, void *arg);

/*
 * Reads until each of the @n requests sent with sequence numbers @seq to
 * @seq + @n - 1 has its ACK, error or DONE. The answers of requests sent
 * in one datagram interleave (the rest of a dump comes only as it is read,
 * after the errors of the requests behind it), so each answer is kept by
 * its sequence number; other numbers are skipped. Returns 0, or -1 when an
 * answer did not come in time (r->timeout) or the socket failed (r->err).
 */
static int nl_wait_n(struct nl *nl, uint32_t seq, unsigned int n, struct reply *r, reply_cb cb,
		     void *arg)
{
	unsigned int left = n, i;
	bool *done = calloc(n, sizeof(*done));

	if (!done)
		die("out of memory");
	memset(r, 0, n * sizeof(*r));
	while (left) {
		struct pollfd p = { .fd = nl->fd, .events = POLLIN };
		struct nlmsghdr *nlh;
		ssize_t len;
		int k;

		k = poll(&p, 1, arg_timeout_ms);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			for (i = 0; i < n; i++) {
				if (!done[i]) {
					r[i].lost = true;
					r[i].timeout = true;
					r[i].err = ETIMEDOUT;
				}
			}
			free(done);
			return -1;
		}
		len = recv(nl->fd, nl->rbuf, RECV_BUF, MSG_TRUNC);
		if (len < 0 || len > RECV_BUF) {
			int e = len < 0 ? errno : EMSGSIZE;

			if (e == EINTR)
				continue;
			for (i = 0; i < n; i++) {
				if (!done[i]) {
					r[i].lost = true;
					r[i].err = e;
					snprintf(r[i].msg, sizeof(r[i].msg), "recv: %s",
						 len < 0 ? strerror(e) : "reply truncated");
				}
			}
			free(done);
			return -1;
		}
		for (nlh = (struct nlmsghdr *)nl->rbuf; NLMSG_OK(nlh, len);
		     nlh = NLMSG_NEXT(nlh, len)) {
			struct reply *ri;

			i = nlh->nlmsg_seq - seq;
			if (i >= n || done[i])
				continue;
			ri = &r[i];
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nlh);
				size_t off = NLMSG_HDRLEN + sizeof(*e);

				if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
					off += e->msg.nlmsg_len - NLMSG_HDRLEN;
				ri->err = -e->error;
				parse_extack(nlh, NLMSG_ALIGN(off), ri);
			} else if (nlh->nlmsg_type == NLMSG_DONE) {
				int e = 0;

				if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int)))
					memcpy(&e, NLMSG_DATA(nlh), sizeof(e));
				ri->err = -e;
				parse_extack(nlh, NLMSG_LENGTH(sizeof(int)), ri);
			} else {
				ri->parts++;
				if (cb)
					cb(nlh, arg);
				continue;
			}
			done[i] = true;
			left--;
		}
	}
	free(done);
	return 0;
}

static int nl_wait(struct nl *nl, uint32_t seq, struct reply *r, reply_cb cb, void *arg)
{
	return nl_wait_n(nl, seq, 1, r, cb, arg);
}

static void nl_close(struct nl *nl)
{
	close(nl->fd);
	free(nl->rbuf);
	nl->rbuf = NULL;
}

/* Sends @m (one or more messages) as one datagram. Returns 0 or a positive errno. */
static int nl_send(struct nl *nl, const struct msg *m)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	if (sendto(nl->fd, m->buf, m->len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errno;
	return 0;
}

/* The attributes of a genl message, by type (the last one of a type wins). */
static void parse_attrs(const struct nlmsghdr *nlh, const struct nlattr **tb, int max)
{
	const struct nlattr *a;
	int rem;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
		return;
	a = (const struct nlattr *)((const uint8_t *)NLMSG_DATA(nlh) + GENL_HDRLEN);
	rem = nlh->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
	while (rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= rem) {
		int t = a->nla_type & NLA_TYPE_MASK;

		if (t <= max)
			tb[t] = a;
		rem -= NLA_ALIGN(a->nla_len);
		a = (const struct nlattr *)((const uint8_t *)a + NLA_ALIGN(a->nla_len));
	}
}

static const char *attr_str(const struct nlattr *a)
{
	const char *s;
	int len;

	if (!a)
		return "";
	s = (const char *)a + NLA_HDRLEN;
	len = a->nla_len - NLA_HDRLEN;
	return len > 0 && !s[len - 1] ? s : "";
}

/* ---- the family ----------------------------------------------------------------------------- */

static uint16_t family;
static uint32_t monitor_grp;

static void family_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[CTRL_ATTR_MAX + 1];
	const struct nlattr *g, *a;
	int rem, rem2;

	(void)arg;
	parse_attrs(nlh, tb, CTRL_ATTR_MAX);
	if (tb[CTRL_ATTR_FAMILY_ID])
		memcpy(&family, (const uint8_t *)tb[CTRL_ATTR_FAMILY_ID] + NLA_HDRLEN, 2);
	if (!tb[CTRL_ATTR_MCAST_GROUPS])
		return;
	g = tb[CTRL_ATTR_MCAST_GROUPS];
	rem = g->nla_len - NLA_HDRLEN;
	for (g = (const struct nlattr *)((const uint8_t *)g + NLA_HDRLEN);
	     rem >= NLA_HDRLEN && g->nla_len >= NLA_HDRLEN && g->nla_len <= rem;
	     rem -= NLA_ALIGN(g->nla_len),
	     g = (const struct nlattr *)((const uint8_t *)g + NLA_ALIGN(g->nla_len))) {
		const char *name = NULL;
		uint32_t id = 0;

		rem2 = g->nla_len - NLA_HDRLEN;
		for (a = (const struct nlattr *)((const uint8_t *)g + NLA_HDRLEN);
		     rem2 >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= rem2;
		     rem2 -= NLA_ALIGN(a->nla_len),
		     a = (const struct nlattr *)((const uint8_t *)a + NLA_ALIGN(a->nla_len))) {
			if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_MCAST_GRP_NAME)
				name = attr_str(a);
			else if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_MCAST_GRP_ID)
				memcpy(&id, (const uint8_t *)a + NLA_HDRLEN, 4);
		}
		if (name && !strcmp(name, VBUS_GENL_MCGRP_MONITOR))
			monitor_grp = id;
	}
}

static void resolve_family(struct nl *nl)
{
	struct msg m = { .len = 0 };
	struct nlmsghdr *nlh;
	struct reply r;
	uint32_t seq = nl->seq++;

	nlh = msg_start(&m, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq, CTRL_CMD_GETFAMILY, 1);
	put_str(&m, CTRL_ATTR_FAMILY_NAME, VBUS_GENL_NAME);
	msg_end(&m, nlh);
	if (nl_send(nl, &m) || nl_wait(nl, seq, &r, family_cb, NULL) < 0 || r.err || !family)
		die("generic netlink family %s not found (is vbus.ko loaded?)", VBUS_GENL_NAME);
}

/* ---- device lists --------------------------------------------------------------------------- */

struct dev {
	char bus[64], mgmt[64], name[VBUS_DEV_NAME_MAX], sysfs[160];
};

struct devlist {
	struct dev d[MAX_DEVS];
	int n;
};

static void devlist_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[VBUS_ATTR_MAX + 1];
	struct devlist *l = arg;
	struct dev *d;

	if (l->n >= MAX_DEVS)
		return;
	parse_attrs(nlh, tb, VBUS_ATTR_MAX);
	d = &l->d[l->n++];
	snprintf(d->bus, sizeof(d->bus), "%s", attr_str(tb[VBUS_ATTR_MGMTDEV_BUS_NAME]));
	snprintf(d->mgmt, sizeof(d->mgmt), "%s", attr_str(tb[VBUS_ATTR_MGMTDEV_DEV_NAME]));
	snprintf(d->name, sizeof(d->name), "%s", attr_str(tb[VBUS_ATTR_DEV_NAME]));
	snprintf(d->sysfs, sizeof(d->sysfs), "%s", attr_str(tb[VBUS_ATTR_DEV_SYSFS_NAME]));
}

static void dev_dump(struct nl *nl, struct devlist *l)
{
	struct msg m = { .len = 0 };
	struct nlmsghdr *nlh;
	struct reply r;
	uint32_t seq = nl->seq++;

	l->n = 0;
	nlh = msg_start(&m, family, NLM_F_REQUEST | NLM_F_DUMP, seq, VBUS_CMD_DEV_GET,
			VBUS_GENL_VERSION);
	msg_end(&m, nlh);
	if (nl_send(nl, &m) || nl_wait(nl, seq, &r, devlist_cb, l) < 0 || r.err)
		die("DEV_GET dump failed: %s %s", errname(r.err), r.msg);
}

static bool devlist_has(const struct devlist *l, const char *sysfs)
{
	int i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->d[i].sysfs, sysfs))
			return true;
	return false;
}

/* A well-formed request on a device; returns the errno (0 on success). */
static int dev_request(struct nl *nl, uint8_t cmd, const char *bus, const char *mgmt,
		       const char *name, const char *type, const char *driver, bool unbound,
		       struct reply *r)
{
	struct msg m = { .len = 0 };
	struct nlmsghdr *nlh;
	uint32_t seq = nl->seq++;
	int err;

	nlh = msg_start(&m, family, NLM_F_REQUEST | NLM_F_ACK, seq, cmd, VBUS_GENL_VERSION);
	put_str(&m, VBUS_ATTR_MGMTDEV_BUS_NAME, bus);
	put_str(&m, VBUS_ATTR_MGMTDEV_DEV_NAME, mgmt);
	put_str(&m, VBUS_ATTR_DEV_NAME, name);
	if (type)
		put_str(&m, VBUS_ATTR_DEV_TYPE, type);
	if (driver)
		put_str(&m, VBUS_ATTR_DEV_DRIVER, driver);
	if (unbound)
		put_attr(&m, VBUS_ATTR_DEV_UNBOUND, NULL, 0);
	msg_end(&m, nlh);
	err = nl_send(nl, &m);
	if (err) {
		memset(r, 0, sizeof(*r));
		r->err = err;
		return err;
	}
	if (nl_wait(nl, seq, r, NULL, NULL) < 0)
		return r->err ?: ETIMEDOUT;
	return r->err;
}

/* ---- storm ---------------------------------------------------------------------------------- */

enum { OP_NEW, OP_DEL, OP_SET, OP_DUMP, NUM_OPS };
static const char *const op_names[NUM_OPS] = { "new", "del", "set", "dump" };

struct worker_stats {
	uint64_t count[NUM_OPS][MAX_ERRNO + 1];
	uint64_t ops, unexpected, timeouts;
	double secs;
	char first_unexpected[512];
};

struct storm_shared {
	struct worker_stats w[MAX_WORKERS];
	uint64_t mon_msgs[VBUS_CMD_MAX + 1], mon_overruns, mon_other;
};

struct mgmt {
	char bus[64], dev[64];
	bool comes_and_goes;	/* its parent is deleted and re-created during the storm */
};

static struct mgmt mgmts[MAX_MGMT];
static int n_mgmts;

static void parse_mgmt(const char *s)
{
	const char *slash = strchr(s, '/');
	struct mgmt *m;

	if (n_mgmts >= MAX_MGMT)
		die("at most %d management devices", MAX_MGMT);
	m = &mgmts[n_mgmts++];
	m->comes_and_goes = s[0] == '~';
	if (m->comes_and_goes)
		s++, slash = strchr(s, '/');
	if (!slash || slash == s || !slash[1] || slash - s >= (long)sizeof(m->bus) ||
	    strlen(slash + 1) >= sizeof(m->dev))
		die("management device must be BUS/DEV, not '%s'", s);
	snprintf(m->bus, sizeof(m->bus), "%.*s", (int)(slash - s), s);
	snprintf(m->dev, sizeof(m->dev), "%s", slash + 1);
}

/* What each operation may answer when the workers collide on purpose. */
static bool storm_expected(int op, int err, const struct mgmt *m)
{
	switch (op) {
	case OP_NEW:
		return !err || err == EEXIST || (err == ENODEV && m->comes_and_goes);
	case OP_DEL:
	case OP_SET:
		return !err || err == ENODEV;
	default:
		return !err;
	}
}

static void storm_worker(struct worker_stats *st, uint64_t seed, double secs,
			 unsigned int n_names)
{
	static const char *const drivers[] = { "vbus_sim_net", "vbus_sim_blk", "", "nosuch" };
	struct devlist l;
	struct nl nl;
	double t0, end;
	char name[16];

	rng_state = seed;
	nl_open(&nl, 0);
	resolve_family(&nl);
	t0 = now();
	end = t0 + secs;
	while (now() < end) {
		const struct mgmt *m = &mgmts[rnd(n_mgmts)];
		unsigned int r = rnd(100);
		struct reply rep;
		int op, err;

		snprintf(name, sizeof(name), "s%u", rnd(n_names));
		if (r < 35) {
			op = OP_NEW;
			err = dev_request(&nl, VBUS_CMD_DEV_NEW, m->bus, m->dev, name,
					  rnd(2) ? "net" : "blk", NULL, false, &rep);
		} else if (r < 60) {
			op = OP_DEL;
			err = dev_request(&nl, VBUS_CMD_DEV_DEL, m->bus, m->dev, name, NULL, NULL,
					  false, &rep);
		} else if (r < 95) {
			unsigned int d = rnd(5);

			op = OP_SET;
			err = dev_request(&nl, VBUS_CMD_DEV_SET, m->bus, m->dev, name, NULL,
					  d < 4 ? drivers[d] : NULL, d == 4, &rep);
		} else {
			/* a dump while the others change the list under it */
			op = OP_DUMP;
			dev_dump(&nl, &l);
			err = 0;
			rep.timeout = false;
		}
		st->ops++;
		st->count[op][err <= MAX_ERRNO ? err : MAX_ERRNO]++;
		if (rep.timeout)
			st->timeouts++;
		if (!storm_expected(op, err, m)) {
			if (!st->unexpected++)
				snprintf(st->first_unexpected, sizeof(st->first_unexpected),
					 "%s %s/%s %s: %s (%s)", op_names[op], m->bus, m->dev,
					 name, errname(err), rep.msg);
		}
		if (st->timeouts >= 3)
			break;
	}
	st->secs = now() - t0;
	nl_close(&nl);
}

static volatile sig_atomic_t monitor_stop;

static void on_term(int sig)
{
	(void)sig;
	monitor_stop = 1;
}

/* Counts notifications; a small receive buffer overruns under the storm, which must be survivable. */
static void storm_monitor(struct storm_shared *sh)
{
	struct sigaction sa = { .sa_handler = on_term };
	struct nl nl;

	sigaction(SIGTERM, &sa, NULL);
	nl_open(&nl, 0);
	resolve_family(&nl);
	if (!monitor_grp)
		die("family %s has no group %s", VBUS_GENL_NAME, VBUS_GENL_MCGRP_MONITOR);
	if (setsockopt(nl.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &monitor_grp,
		       sizeof(monitor_grp)) < 0)
		die("joining %s: %m", VBUS_GENL_MCGRP_MONITOR);
	/* tells the parent that the listener is in place */
	kill(getppid(), SIGUSR1);
	while (!monitor_stop) {
		struct nlmsghdr *nlh;
		ssize_t n = recv(nl.fd, nl.rbuf, RECV_BUF, 0);

		if (n < 0) {
			if (errno == ENOBUFS)
				sh->mon_overruns++;
			else if (errno != EINTR)
				die("monitor: recv: %m");
			continue;
		}
		for (nlh = (struct nlmsghdr *)nl.rbuf; NLMSG_OK(nlh, n); nlh = NLMSG_NEXT(nlh, n)) {
			const struct genlmsghdr *g = NLMSG_DATA(nlh);

			if (nlh->nlmsg_type == family && g->cmd <= VBUS_CMD_MAX)
				sh->mon_msgs[g->cmd]++;
			else
				sh->mon_other++;
		}
	}
	nl_close(&nl);
	exit(0);
}

static volatile sig_atomic_t monitor_ready;

static void on_usr1(int sig)
{
	(void)sig;
	monitor_ready = 1;
}

static void print_outcomes(const uint64_t count[NUM_OPS][MAX_ERRNO + 1])
{
	int op, e;

	for (op = 0; op < NUM_OPS; op++) {
		printf("  %s", op_names[op]);
		for (e = 0; e <= MAX_ERRNO; e++)
			if (count[op][e])
				printf(" %s=%" PRIu64, e == MAX_ERRNO ? "other" : errname(e),
				       count[op][e]);
		printf("\n");
	}
}

static int storm(int workers, double secs, uint64_t seed, unsigned int n_names)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	uint64_t total[NUM_OPS][MAX_ERRNO + 1] = { { 0 } };
	struct storm_shared *sh;
	pid_t mon, pids[MAX_WORKERS];
	uint64_t ops = 0, bad = 0;
	double wall;
	int i, op, e, failed = 0;

	if (workers < 1 || workers > MAX_WORKERS || !n_mgmts || secs <= 0 || !n_names)
		die("storm: bad arguments");
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap: %m");
	printf("storm: %d workers, %.0f s, %u shared names, seed %" PRIu64 "\n", workers, secs,
	       n_names, seed);
	fflush(stdout);

	sigaction(SIGUSR1, &sa, NULL);
	mon = fork();
	if (mon < 0)
		die("fork: %m");
	if (!mon)
		storm_monitor(sh);
	for (i = 0; i < 100 && !monitor_ready; i++)
		usleep(50000);
	if (!monitor_ready)
		die("the monitor did not start");

	wall = now();
	for (i = 0; i < workers; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork: %m");
		if (!pids[i]) {
			storm_worker(&sh->w[i], seed + i, secs, n_names);
			exit(0);
		}
	}
	for (i = 0; i < workers; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
			printf("worker %d: died (status 0x%x)\n", i + 1, st);
			failed = 1;
		}
	}
	wall = now() - wall;
	/* let the monitor drain what is queued */
	usleep(500000);
	kill(mon, SIGTERM);
	waitpid(mon, NULL, 0);

	for (i = 0; i < workers; i++) {
		struct worker_stats *w = &sh->w[i];

		printf("worker %d: %" PRIu64 " ops in %.1f s, %.0f ops/s, %" PRIu64
		       " unexpected, %" PRIu64 " timeouts\n", i + 1, w->ops, w->secs,
		       w->secs > 0 ? w->ops / w->secs : 0.0, w->unexpected, w->timeouts);
		print_outcomes((const uint64_t (*)[MAX_ERRNO + 1])w->count);
		if (w->unexpected)
			printf("  first unexpected: %s\n", w->first_unexpected);
		ops += w->ops;
		bad += w->unexpected + w->timeouts;
		for (op = 0; op < NUM_OPS; op++)
			for (e = 0; e <= MAX_ERRNO; e++)
				total[op][e] += w->count[op][e];
	}
	printf("total: %" PRIu64 " ops in %.1f s, %.0f ops/s\n", ops, wall, ops / wall);
	print_outcomes((const uint64_t (*)[MAX_ERRNO + 1])total);
	printf("monitor: new=%" PRIu64 " del=%" PRIu64 " bind=%" PRIu64 " other=%" PRIu64
	       " overruns=%" PRIu64 "\n", sh->mon_msgs[VBUS_CMD_DEV_NEW_NTF],
	       sh->mon_msgs[VBUS_CMD_DEV_DEL_NTF], sh->mon_msgs[VBUS_CMD_DEV_BIND_NTF], sh->mon_other,
	       sh->mon_overruns);
	if (bad)
		printf("storm: %" PRIu64 " unexpected answers or timeouts\n", bad);
	return failed || bad ? 1 : 0;
}

/* ---- fuzz ----------------------------------------------------------------------------------- */

/* The ops vbus registers, and which of them need CAP_NET_ADMIN. */
static bool cmd_known(unsigned int cmd)
{
	return cmd >= VBUS_CMD_MGMTDEV_GET && cmd <= VBUS_CMD_DEV_SET;
}

static bool cmd_changes(unsigned int cmd)
{
	return cmd == VBUS_CMD_DEV_NEW || cmd == VBUS_CMD_DEV_DEL || cmd == VBUS_CMD_DEV_SET;
}

static bool cmd_dumps(unsigned int cmd)
{
	return cmd == VBUS_CMD_MGMTDEV_GET || cmd == VBUS_CMD_DEV_GET;
}

/* A string of @len characters: valid name characters, or any byte but NUL. */
static char *rnd_chars(size_t len, bool valid)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
	char *s = malloc(len + 1);
	size_t i;

	if (!s)
		die("out of memory");
	for (i = 0; i < len; i++)
		s[i] = valid ? ok[rnd(sizeof(ok) - 1)] : (char)(1 + rnd(255));
	s[len] = '\0';
	return s;
}

static char *pick_len_name(void)
{
	static const size_t lens[] = { 0, 1, 31, 32, 33, 63, 64, 65, 4096 };

	return rnd_chars(lens[rnd(sizeof(lens) / sizeof(lens[0]))], !chance(20));
}

/* A value for attribute @t: mostly plausible, sometimes hostile. */
static char *pick_value(unsigned int t)
{
	static const char *const buses[] = { "vbus_sim", "vbus_sim", "vbus_sim", "pci",
					     "auxiliary", "virtbus", "" };
	static const char *const devs[] = { "vbus_sim1", "vbus_sim1", "vbus_sim1", "vbus_sim2",
					    "vbus_sim9", "0000:00:00.0", "" };
	static const char *const names[] = { "fz0", "fz1", "fz2", "fz3", "a.b", "a/b", "..",
					     "fz\xc3\xa9", " fz0", "fz0\n" };
	static const char *const types[] = { "net", "blk", "net", "blk", "gpu", "", "NET" };
	static const char *const drivers[] = { "vbus_sim_net", "vbus_sim_blk", "", "nosuch",
					       "vbus_sim.sf", "vfio-pci" };
	unsigned int r = rnd(100);

	if (r >= 80)
		return pick_len_name();
	switch (t) {
	case VBUS_ATTR_MGMTDEV_BUS_NAME:
		return strdup(buses[rnd(sizeof(buses) / sizeof(buses[0]))]);
	case VBUS_ATTR_MGMTDEV_DEV_NAME:
		return strdup(devs[rnd(sizeof(devs) / sizeof(devs[0]))]);
	case VBUS_ATTR_DEV_NAME:
		return strdup(names[r < 60 ? rnd(4) : rnd(sizeof(names) / sizeof(names[0]))]);
	case VBUS_ATTR_DEV_TYPE:
		return strdup(types[rnd(sizeof(types) / sizeof(types[0]))]);
	case VBUS_ATTR_DEV_DRIVER:
	case VBUS_ATTR_DEV_DRIVER_OVERRIDE:
		return strdup(drivers[rnd(sizeof(drivers) / sizeof(drivers[0]))]);
	default:
		return pick_len_name();
	}
}

static void put_garbage(struct msg *m, uint16_t type, size_t max)
{
	uint8_t junk[256];
	size_t len = rnd(max + 1), i;

	if (len > sizeof(junk))
		len = sizeof(junk);
	for (i = 0; i < len; i++)
		junk[i] = rnd(256);
	put_attr(m, type, junk, len);
}

/* Random nests of random attributes, @depth deep. */
static void put_nested_garbage(struct msg *m, uint16_t type, int depth)
{
	struct nlattr *nest = nest_start(m, type);
	unsigned int i, n = rnd(4);

	for (i = 0; i < n; i++) {
		if (depth > 0 && chance(40))
			put_nested_garbage(m, rnd(12), depth - 1);
		else
			put_garbage(m, rnd(12), 40);
	}
	nest_end(m, nest);
}

/* One attribute of type @t, encoded right or in one of the wrong ways. */
static void put_fuzzed_attr(struct msg *m, unsigned int t)
{
	unsigned int r = rnd(100);
	char *v;

	if (t == VBUS_ATTR_DEV_UNBOUND && r < 85) {
		put_attr(m, t, NULL, 0);
		return;
	}
	if (t == VBUS_ATTR_MGMTDEV_TYPE && r < 70) {
		put_nested_garbage(m, t, 2);
		return;
	}
	if (r < 80) {
		v = pick_value(t);
		put_str(m, t, v);
		free(v);
	} else if (r < 84) {			/* string without its NUL */
		v = pick_value(t);
		put_attr(m, t, v, strlen(v));
		free(v);
	} else if (r < 88) {			/* an integer where a string belongs */
		uint64_t x = rnd64();

		put_attr(m, t, &x, 1u << rnd(4));
	} else if (r < 91) {			/* string with the nested flag */
		v = pick_value(t);
		put_str(m, t | NLA_F_NESTED, v);
		free(v);
	} else if (r < 94) {			/* nested garbage */
		put_nested_garbage(m, t, 2);
	} else if (r < 96) {			/* empty */
		put_attr(m, t, NULL, 0);
	} else if (r < 98) {			/* the byte-order flag */
		v = pick_value(t);
		put_str(m, t | NLA_F_NET_BYTEORDER, v);
		free(v);
	} else {				/* random bytes */
		put_garbage(m, t, 200);
	}
}

/*
 * The attributes @cmd takes, well encoded; each is left out with
 * @miss_percent chance (a missing required attribute). Values come from
 * pick_value(): mostly real, sometimes unknown, oversized or invalid.
 */
static void put_skeleton(struct msg *m, unsigned int cmd, unsigned int miss_percent)
{
	char *v;

	if (!chance(miss_percent)) {
		v = chance(85) ? strdup("vbus_sim") : pick_value(VBUS_ATTR_MGMTDEV_BUS_NAME);
		put_str(m, VBUS_ATTR_MGMTDEV_BUS_NAME, v);
		free(v);
	}
	if (!chance(miss_percent)) {
		v = chance(70) ? strdup(chance(85) ? "vbus_sim1" : "vbus_sim2") :
				 pick_value(VBUS_ATTR_MGMTDEV_DEV_NAME);
		put_str(m, VBUS_ATTR_MGMTDEV_DEV_NAME, v);
		free(v);
	}
	if (cmd != VBUS_CMD_MGMTDEV_GET && !chance(miss_percent)) {
		v = pick_value(VBUS_ATTR_DEV_NAME);
		put_str(m, VBUS_ATTR_DEV_NAME, v);
		free(v);
	}
	if (cmd == VBUS_CMD_DEV_NEW && !chance(miss_percent)) {
		v = pick_value(VBUS_ATTR_DEV_TYPE);
		put_str(m, VBUS_ATTR_DEV_TYPE, v);
		free(v);
	}
	if (cmd == VBUS_CMD_DEV_SET && !chance(miss_percent)) {
		/* driver or unbound; now and then both (mutually exclusive) */
		if (chance(70)) {
			v = pick_value(VBUS_ATTR_DEV_DRIVER);
			put_str(m, VBUS_ATTR_DEV_DRIVER, v);
			free(v);
		}
		if (chance(35))
			put_attr(m, VBUS_ATTR_DEV_UNBOUND, NULL, 0);
	}
}

enum expect { EXPECT_ANY, EXPECT_EXACT };

struct fuzz_case {
	unsigned int cmd;
	uint16_t flags;
	enum expect expect;
	int err;		/* with EXPECT_EXACT */
	size_t off, len;	/* in the datagram */
};

/*
 * Appends one request to @m and says what the kernel must answer where the
 * answer follows from the header alone (net/netlink/genetlink.c, 6.1: the
 * header and flag checks, then the op lookup, then CAP_NET_ADMIN, then the
 * dump/doit split). Past that, the attributes decide.
 */
static void fuzz_build(struct msg *m, struct fuzz_case *c, uint32_t seq, bool unpriv)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;
	unsigned int r = rnd(100), t, n, i;
	uint16_t flags = NLM_F_REQUEST | NLM_F_ACK;
	bool dump, hdr_ok = true, flags_ok = true;
	uint8_t version = VBUS_GENL_VERSION, reserved = 0;

	if (r < 75)
		c->cmd = VBUS_CMD_MGMTDEV_GET + rnd(5);
	else if (r < 80)
		c->cmd = VBUS_CMD_DEV_BIND_NTF + rnd(6);	/* notifications only: no op */
	else if (r < 90)
		c->cmd = rnd(2) ? VBUS_CMD_UNSPEC : __VBUS_CMD_MAX + rnd(4);
	else
		c->cmd = rnd(256);

	r = rnd(100);
	if (r < 15)
		flags |= NLM_F_DUMP;
	else if (r < 20)
		flags |= NLM_F_ECHO;
	else if (r < 25)
		flags |= 1u << (4 + rnd(12));	/* ROOT, MATCH, ATOMIC, DUMP_INTR, ... */
	else if (r < 27)
		flags |= rnd(65536);
	if (chance(1))
		flags &= ~NLM_F_REQUEST;
	flags |= NLM_F_ACK;	/* every request gets an answer: that is what is checked */
	if (chance(3))
		version = rnd(256);
	if (chance(3))
		reserved = 1 + rnd(255);

	c->off = m->len;
	nlh = msg_start(m, family, flags, seq, c->cmd, version);
	g = NLMSG_DATA(nlh);
	g->reserved = reserved;

	if (chance(2)) {
		/* a genl header cut short: 0 to 3 of its 4 bytes */
		m->len = c->off + NLMSG_HDRLEN + rnd(GENL_HDRLEN);
		hdr_ok = false;
	} else if (chance(40)) {
		/* well encoded, so that it reaches the ops: hostile only in its values */
		put_skeleton(m, c->cmd, 10);
	} else {
		/* any attributes, each right or wrongly encoded, in random order */
		n = rnd(6);
		for (i = 0; i < n; i++) {
			t = chance(90) ? 1 + rnd(VBUS_ATTR_MAX) : rnd(65536) & NLA_TYPE_MASK;
			if (chance(3))
				put_garbage(m, t, 64);
			else
				put_fuzzed_attr(m, t);
		}
		if (chance(50))
			put_skeleton(m, c->cmd, 20);
		if (chance(10)) {
			/* the last attribute claims more bytes than the message has, or fewer
			 * than its own header
			 */
			struct nlattr *a = put_attr(m, 1 + rnd(VBUS_ATTR_MAX), "xxxx", 4);

			if (a)
				a->nla_len = rnd(2) ? 8 + 1 + rnd(4000) : rnd(NLA_HDRLEN);
		}
		if (chance(5)) {
			/* 1 to 4 bytes of trailing junk, shorter than an attribute header */
			uint8_t *p = msg_reserve(m, 4);

			if (p) {
				p[0] = rnd(256);
				m->len -= rnd(4);
			}
		}
	}
	msg_end(m, nlh);
	c->len = m->len - c->off;
	c->flags = flags;
	/* keep the next message aligned if this one ends unaligned */
	m->len = c->off + NLMSG_ALIGN(c->len);

	dump = (flags & NLM_F_DUMP) == NLM_F_DUMP;
	if (flags & ~(NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO | (dump ? NLM_F_DUMP : 0)))
		flags_ok = false;

	c->expect = EXPECT_EXACT;
	if (!(flags & NLM_F_REQUEST))
		c->err = 0;		/* not a request: acknowledged unread */
	else if (!hdr_ok)
		c->err = EINVAL;
	else if (c->cmd >= VBUS_CMD_MGMTDEV_GET && (reserved || !flags_ok))
		c->err = EINVAL;	/* strict header checks (resv_start_op) */
	else if (!cmd_known(c->cmd))
		c->err = EOPNOTSUPP;
	else if (unpriv && cmd_changes(c->cmd))
		c->err = EPERM;
	else if (dump && !cmd_dumps(c->cmd))
		c->err = EOPNOTSUPP;
	else
		c->expect = EXPECT_ANY;
}

/* What a request past the header checks may answer. */
static bool fuzz_answer_ok(const struct fuzz_case *c, int err, bool unpriv)
{
	if (c->expect == EXPECT_EXACT)
		return err == c->err;
	if (unpriv && cmd_changes(c->cmd))
		return false;
	switch (err) {
	case 0:
	case EINVAL:		/* policy, missing attributes, bad names */
	case ERANGE:		/* policy: string too long */
	case ENODEV:		/* unknown mgmtdev or device */
	case EEXIST:
	case EOPNOTSUPP:	/* unknown device type */
	case ENOSPC:		/* instance limit */
	case E2BIG:		/* more configuration entries than VBUS_CONFIG_MAX_ENTRIES */
		return true;
	case EBUSY:		/* a dump while this socket's previous one still runs */
		return cmd_dumps(c->cmd) && (c->flags & NLM_F_DUMP) == NLM_F_DUMP;
	default:
		return false;
	}
}

static void hexdump(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len && i < 256; i++)
		printf("%s%02x", i % 32 ? "" : "\n    ", p[i]);
	printf("%s\n", len > 256 ? " ..." : "");
}

static int fuzz(unsigned long count, uint64_t seed, bool unpriv)
{
	static uint64_t outcome[256][MAX_ERRNO + 1];
	unsigned long sent = 0, answered = 0, unexpected = 0, timeouts = 0, send_errors = 0;
	unsigned long created = 0, reads_ok = 0, exact = 0, not_requests = 0;
	struct devlist before, after;
	struct nl nl;
	double t0;
	int i;

	nl_open(&nl, 1 << 20);
	resolve_family(&nl);
	dev_dump(&nl, &before);
	rng_state = seed;
	printf("fuzz: seed %" PRIu64 ", %lu messages, %s, family id %u, %d devices before\n", seed,
	       count, unpriv ? "unprivileged (changes must fail with EPERM)" : "privileged",
	       family, before.n);
	fflush(stdout);

	t0 = now();
	while (sent < count && timeouts < 3) {
		struct fuzz_case cases[3];
		struct reply replies[3];
		struct msg m = { .len = 0 };
		int n = chance(5) ? 2 + rnd(2) : 1, err;
		uint32_t seq0 = nl.seq;

		if ((unsigned long)n > count - sent)
			n = count - sent;

		for (i = 0; i < n; i++)
			fuzz_build(&m, &cases[i], nl.seq++, unpriv);
		err = nl_send(&nl, &m);
		if (err) {
			/* the kernel refused the datagram itself; nothing to wait for */
			send_errors++;
			printf("message %lu: send: %s\n", sent, errname(err));
			sent += n;
			continue;
		}
		nl_wait_n(&nl, seq0, n, replies, NULL, NULL);
		for (i = 0; i < n; i++) {
			struct fuzz_case *c = &cases[i];
			struct reply *r = &replies[i];

			sent++;
			if (r->lost) {
				if (r->timeout)
					timeouts++;
				unexpected++;
				printf("message %lu (cmd %u flags 0x%x): no answer: %s %s", sent - 1,
				       c->cmd, c->flags, errname(r->err), r->msg);
				hexdump(m.buf + c->off, c->len);
				continue;
			}
			answered++;
			if (!(c->flags & NLM_F_REQUEST))
				not_requests++;
			else
				outcome[c->cmd][r->err <= MAX_ERRNO ? r->err : MAX_ERRNO]++;
			if (c->expect == EXPECT_EXACT) {
				exact++;
			} else if (!r->err) {
				if (c->cmd == VBUS_CMD_DEV_NEW)
					created++;
				else if (!cmd_changes(c->cmd))
					reads_ok++;
			}
			if (!fuzz_answer_ok(c, r->err, unpriv)) {
				if (unexpected++ < 10) {
					printf("message %lu (cmd %u flags 0x%x): answer %s, expected %s"
					       " (%s)", sent - 1, c->cmd, c->flags, errname(r->err),
					       c->expect == EXPECT_EXACT ? errname(c->err) : "one of the"
					       " documented errors", r->msg);
					hexdump(m.buf + c->off, c->len);
				}
			}
		}
	}
	printf("fuzz: %lu sent, %lu answered in %.1f s (%.0f/s), %lu decided by the header,"
	       " %lu send errors, %lu timeouts, %lu unexpected\n", sent, answered, now() - t0,
	       answered / (now() - t0), exact, send_errors, timeouts, unexpected);
	for (i = 0; i < 256; i++) {
		int e;

		for (e = 0; e <= MAX_ERRNO; e++)
			if (outcome[i][e])
				break;
		if (e > MAX_ERRNO)
			continue;
		printf("  cmd %d:", i);
		for (e = 0; e <= MAX_ERRNO; e++)
			if (outcome[i][e])
				printf(" %s=%" PRIu64, e == MAX_ERRNO ? "other" : errname(e),
				       outcome[i][e]);
		printf("\n");
	}
	printf("  not requests (no NLM_F_REQUEST, acknowledged unread): %lu\n", not_requests);
	printf("fuzz: %lu successful reads, %lu devices created\n", reads_ok, created);

	/* Whatever the fuzzer created goes; what was there before stays. */
	dev_dump(&nl, &after);
	if (!unpriv) {
		unsigned long removed = 0;

		for (i = 0; i < after.n; i++) {
			struct dev *d = &after.d[i];
			struct reply r;

			if (devlist_has(&before, d->sysfs))
				continue;
			if (dev_request(&nl, VBUS_CMD_DEV_DEL, d->bus, d->mgmt, d->name, NULL, NULL,
					false, &r)) {
				printf("cleanup: deleting %s: %s %s\n", d->sysfs, errname(r.err), r.msg);
				unexpected++;
			} else {
				removed++;
			}
		}
		printf("fuzz: %lu devices left by the fuzzer deleted\n", removed);
		dev_dump(&nl, &after);
	}
	for (i = 0; i < before.n; i++) {
		if (!devlist_has(&after, before.d[i].sysfs)) {
			printf("fuzz: device %s that existed before is gone\n", before.d[i].sysfs);
			unexpected++;
		}
	}
	for (i = 0; i < after.n; i++) {
		if (!devlist_has(&before, after.d[i].sysfs)) {
			printf("fuzz: device %s remains\n", after.d[i].sysfs);
			unexpected++;
		}
	}
	if (unpriv && created) {
		printf("fuzz: an unprivileged DEV_NEW succeeded\n");
		unexpected++;
	}
	if (!reads_ok) {
		printf("fuzz: no read request succeeded\n");
		unexpected++;
	}
	nl_close(&nl);
	printf("fuzz: seed %" PRIu64 ": %s\n", seed, unexpected || timeouts ? "FAILED" : "passed");
	return unexpected || timeouts || answered + send_errors != sent ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: nl-fuzz storm [-w WORKERS] [-t SECONDS] [-s SEED] [-n NAMES] [~]BUS/DEV...\n"
		"       nl-fuzz fuzz [-n COUNT] [-s SEED] [--unprivileged]\n"
		"storm: WORKERS processes (default 4), one socket each, do DEV_NEW/DEV_DEL/DEV_SET\n"
		"  on NAMES shared names (default 6) of the given mgmtdevs; '~' marks one whose\n"
		"  parent may disappear. A monitor listener counts notifications.\n"
		"fuzz: COUNT random and malformed requests (default 20000); every one must be\n"
		"  answered; with --unprivileged every change must fail with EPERM.\n"
		"Options: --timeout MS for one answer (default 10000). Exit status 1 on a failure.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "workers", required_argument, NULL, 'w' },
		{ "time", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "unprivileged", no_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	unsigned long count = 0;
	double secs = 20;
	int workers = 4, c;
	bool unpriv = false;
	const char *mode;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	mode = argv[1];
	if (!strcmp(mode, "-h") || !strcmp(mode, "--help")) {
		usage(stdout);
		return 0;
	}
	argv++, argc--;
	while ((c = getopt_long(argc, argv, "w:t:s:n:uT:h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			workers = atoi(optarg);
			break;
		case 't':
			secs = atof(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			count = strtoul(optarg, NULL, 0);
			break;
		case 'u':
			unpriv = true;
			break;
		case 'T':
			arg_timeout_ms = atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (!strcmp(mode, "storm")) {
		for (; optind < argc; optind++)
			parse_mgmt(argv[optind]);
		return storm(workers, secs, seed, count ? count : 6);
	}
	if (!strcmp(mode, "fuzz") && optind == argc)
		return fuzz(count ? count : 20000, seed, unpriv);
	usage(stderr);
	return 2;
}
